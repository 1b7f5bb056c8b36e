"""The HTTP API (FastAPI): routes by resource over :class:`kopek.Engine`; see :mod:`kopek.api.app`."""
