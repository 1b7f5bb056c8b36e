"""kopek: an open, embeddable convergent charging engine."""

__version__ = "0.1.0"
