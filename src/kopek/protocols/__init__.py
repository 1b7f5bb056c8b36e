"""Protocol adapters at the edge: 5G Nchf_ConvergedCharging (TS 32.291) and Diameter credit control (RFC 4006, Gy).

Each turns its messages into the same session commands the HTTP API uses (docs/protocols.md);
none holds pricing logic.
"""

NCHF_NOTIFY_INTERVAL_SECONDS_DEFAULT = 1.0
"""How often ``kopek serve`` looks for ChargingNotify re-authorizations to send, unless told otherwise."""
