"""Diameter credit control (RFC 4006, Gy) over TCP: ``kopek diameter serve``."""
