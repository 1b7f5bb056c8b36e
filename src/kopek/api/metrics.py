"""Prometheus metrics of one app, in a registry of its own (never the process-wide default)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from kopek.errors import Category

CHARGED = "charged"
REPLAYED = "replayed"


class ChargeMetrics:
    """``kopek_charges_total{outcome}`` and ``kopek_charge_duration_seconds`` for one app.

    The outcome is ``charged``, ``replayed`` (an idempotent retry) or the error category
    of a refused charge. Requests refused before reaching the engine (unreadable or
    invalid JSON) are not counted here.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._charges = Counter(
            "kopek_charges",
            "Charge requests answered, by outcome: charged, replayed or the error category.",
            ["outcome"],
            registry=self.registry,
        )
        self._duration = Histogram("kopek_charge_duration_seconds", "Time spent answering a charge request.", registry=self.registry)
        # Every outcome is exported from the start, at zero, so rates work before the first error.
        for outcome in (CHARGED, REPLAYED, *(category.value for category in Category)):
            self._charges.labels(outcome=outcome)

    def observe(self, outcome: str, duration_seconds: float) -> None:
        self._charges.labels(outcome=outcome).inc()
        self._duration.observe(duration_seconds)

    def exposition(self) -> bytes:
        """The metrics in the Prometheus text format."""
        return generate_latest(self.registry)
