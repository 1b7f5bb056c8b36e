"""Prometheus metrics of one app, in a registry of its own (never the process-wide default).

Three kinds (docs/operations.md lists every name):

- **per HTTP operation**, counted by the request observer (:mod:`kopek.api.observing`): requests by operation
  (the route's operation id: ``charge_item``, ``start_session``, ``update_session``, ``restore_contract_states``,
  ``run_fees``, ``create_refill``, ...) and outcome (``succeeded``, ``replayed`` or the error category), their
  latency, and refusals by category, reason and code;
- **of the work the server does in the background**: CDRs rated by its rating jobs (by outcome, and by path as
  each chunk commits), notifications published, sessions ended by the expiry pass and removed after their retention;
- **of the database, read at each scrape** (:class:`DatabaseGauges`): reservations held (count and amount per
  currency), the outbox's depth, live sessions, stored CDRs by status, rating jobs by state. These count what every
  process did, the CLI's included.

``kopek_charges_total`` and ``kopek_charge_duration_seconds`` (the first two metrics kopek had) stay as they were.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Final

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kopek.errors import Category
from kopek.store.metrics_store import MetricsStore

logger = logging.getLogger("kopek.api")

CHARGED = "charged"
REPLAYED = "replayed"
SUCCEEDED = "succeeded"

LATENCY_BUCKETS_SECONDS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Latency buckets: charges take milliseconds, bulk loads and restores seconds."""


class ApiMetrics:
    """Every metric of one app but those read from the database (see :class:`DatabaseGauges`)."""

    def __init__(self, operations: Iterable[str] = ()) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self._charges = Counter(
            "kopek_charges",
            "Charge requests answered, by outcome: charged, replayed or the error category.",
            ["outcome"],
            registry=registry,
        )
        self._charge_duration = Histogram("kopek_charge_duration_seconds", "Time spent answering a charge request.", registry=registry)
        self._requests = Counter(
            "kopek_requests", "HTTP requests answered, by operation and outcome (succeeded, replayed or the error category).",
            ["operation", "outcome"], registry=registry,
        )  # fmt: skip
        self._request_duration = Histogram(
            "kopek_request_duration_seconds", "Time spent answering a request, by operation.", ["operation"],
            buckets=LATENCY_BUCKETS_SECONDS, registry=registry,
        )  # fmt: skip
        self._refusals = Counter(
            "kopek_refusals", "Requests refused, by operation, error category, reason (empty when none) and code.",
            ["operation", "category", "reason", "code"], registry=registry,
        )  # fmt: skip
        self._rated = Counter(
            "kopek_rated_cdrs", "CDRs the server's rating jobs handled, by outcome, once each job ends.", ["outcome"], registry=registry
        )
        self._rated_by_path = Counter(
            "kopek_rated_cdrs_by_path", "CDRs the server's rating jobs handled, by path (vectorized or row), as each chunk commits.",
            ["path"], registry=registry,
        )  # fmt: skip
        self._jobs_ended = Counter(
            "kopek_rating_jobs_ended", "Rating jobs the server ran to their end, by final state.", ["state"], registry=registry
        )
        self._published = Counter("kopek_notifications_published", "Notifications published to NATS JetStream.", registry=registry)
        self._sessions_ended = Counter(
            "kopek_sessions_expired", "Sessions the expiry clean-up ended with their default resolution.", registry=registry
        )
        self._sessions_removed = Counter(
            "kopek_sessions_removed", "Ended sessions the clean-up removed after their retention.", registry=registry
        )
        # Every series a dashboard reads exists from the start, at zero, so rates work before the first event.
        for outcome in (CHARGED, REPLAYED, *(category.value for category in Category)):
            self._charges.labels(outcome=outcome)
        for operation in operations:
            self._requests.labels(operation=operation, outcome=SUCCEEDED)
        for outcome in ("charged", "failed", "skipped"):
            self._rated.labels(outcome=outcome)
        for path in ("vectorized", "row"):
            self._rated_by_path.labels(path=path)

    def observe(self, outcome: str, duration_seconds: float) -> None:
        """One charge request answered (``kopek_charges_total``)."""
        self._charges.labels(outcome=outcome).inc()
        self._charge_duration.observe(duration_seconds)

    def observe_request(self, operation: str, outcome: str, duration_seconds: float) -> None:
        self._requests.labels(operation=operation, outcome=outcome).inc()
        self._request_duration.labels(operation=operation).observe(duration_seconds)

    def observe_refusal(self, operation: str, category: str, reason: str | None, code: str) -> None:
        self._refusals.labels(operation=operation, category=category, reason=reason or "", code=code).inc()

    def observe_rating_job(self, state: str, outcomes: dict[str, int]) -> None:
        """A rating job the server ran ended in ``state`` with ``outcomes`` (charged, failed, skipped) CDRs."""
        self._jobs_ended.labels(state=state).inc()
        for outcome, count in outcomes.items():
            self._rated.labels(outcome=outcome).inc(count)

    def observe_rated_chunk(self, path: str, handled: int) -> None:
        self._rated_by_path.labels(path=path).inc(handled)

    def observe_published(self, count: int) -> None:
        self._published.inc(count)

    def observe_cleanup(self, *, expired: int, removed: int) -> None:
        self._sessions_ended.inc(expired)
        self._sessions_removed.inc(removed)

    def exposition(self) -> bytes:
        """The metrics in the Prometheus text format."""
        return generate_latest(self.registry)


class DatabaseGauges(Collector):
    """Gauges read from the database at each scrape: what is held and waiting now, whichever process left it."""

    def __init__(self, database: sa.Engine) -> None:
        self._database = database

    def collect(self) -> Iterator[Metric]:
        try:
            with self._database.connect() as connection:
                store = MetricsStore(connection)
                reservations = store.reservations_by_currency()
                depth = store.outbox_depth()
                live = store.live_sessions()
                pending = store.pending_cdrs()
                jobs = store.rating_jobs_by_state()
        except sa.exc.SQLAlchemyError as error:
            # A scrape while the database is away shows the other metrics; the gauges come back with it.
            logger.warning("metrics: the database gauges cannot be read: %s", error)
            return
        count = GaugeMetricFamily("kopek_reservations_held", "Reservations live sessions hold, by currency.", labels=["currency"])
        amount = GaugeMetricFamily(
            "kopek_reservations_held_amount", "The amount live sessions hold in reservations, by currency.", labels=["currency"]
        )
        for currency, (held, total) in sorted(reservations.items()):
            count.add_metric([currency], held)
            amount.add_metric([currency], _gauge_value(total))
        yield count
        yield amount
        yield GaugeMetricFamily("kopek_notifications_outbox_depth", "Stored notifications not yet published.", value=depth)
        yield GaugeMetricFamily("kopek_live_sessions", "Charging sessions not ended yet.", value=live)
        yield GaugeMetricFamily("kopek_pending_cdrs", "Stored CDRs waiting for a rating job.", value=pending)
        states = ("queued", "running", "succeeded", "completed_with_errors", "failed", "cancelled")
        yield _by_label("kopek_rating_jobs", "Rating jobs, by state.", "state", jobs, states)


def _by_label(name: str, documentation: str, label: str, counts: dict[str, int], known: tuple[str, ...]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for key in sorted({*known, *counts}):
        family.add_metric([key], counts.get(key, 0))
    return family


def _gauge_value(amount: Decimal) -> float:
    # Prometheus carries samples as binary floats; a gauge is for watching, never for accounting.
    return float(amount)
