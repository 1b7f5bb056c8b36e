"""Protocol adapters at the edge: 5G Nchf_ConvergedCharging (TS 32.291) and Diameter credit control (RFC 4006, Gy).

Each turns its messages into the same session commands the HTTP API uses (docs/protocols.md);
none holds pricing logic.
"""
