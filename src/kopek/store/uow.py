"""The unit of work: one database transaction per operation, rolled back unless committed."""

from __future__ import annotations

from functools import cached_property
from types import TracebackType
from typing import Self

import sqlalchemy as sa

from kopek.store.activation_store import ActivationStore
from kopek.store.api_key_store import ApiKeyStore
from kopek.store.audit_store import AuditStore
from kopek.store.catalog_store import CatalogStore
from kopek.store.cdr_store import CdrStore
from kopek.store.charge_store import ChargeStore
from kopek.store.charging_store import ChargingStore
from kopek.store.contract_state_store import ContractStateStore
from kopek.store.counter_journal_store import CounterJournalStore
from kopek.store.counter_store import CounterStore
from kopek.store.driver_batch import DriverBatch, for_dialect
from kopek.store.item_file_store import ItemFileStore
from kopek.store.kept_connections import KeptConnections
from kopek.store.ledger_store import LedgerStore
from kopek.store.master_store import MasterStore
from kopek.store.notification_store import NotificationStore
from kopek.store.protocol_store import ProtocolStore
from kopek.store.rating_job_store import RatingJobStore
from kopek.store.rating_path_store import RatingPathStore
from kopek.store.recharge_store import RechargeStore
from kopek.store.session_store import SessionStore

COMMIT = for_dialect("COMMIT")


class CommitOutcomeUnknownError(Exception):
    """The connection was lost while the commit was on its way: the work may or may not be stored, so it is not run
    again behind the caller's back (a retry with the same idempotency key answers what was stored)."""


class UnitOfWork:
    """Opens a transaction on enter; :meth:`commit` makes it durable, leaving without it undoes it.

    ``writes=False`` opens a reading transaction (SQLite then does not take the
    write lock up front); left without an error it ends with COMMIT, which keeps the
    statements psycopg prepared on the connection (a ROLLBACK deallocates them). ``snapshot=True`` makes every read see one point in time
    (REPEATABLE READ on PostgreSQL), for consistent exports. ``commit_with_last_batch=True`` sends COMMIT with the
    statements given to :meth:`commit_with` on PostgreSQL (the hot path: an offline charge, a session step). Given ``kept``,
    the connection comes from there and goes back there (:mod:`kopek.store.kept_connections`).
    """

    def __init__(
        self,
        engine: sa.Engine,
        *,
        writes: bool = True,
        snapshot: bool = False,
        commit_with_last_batch: bool = False,
        kept: KeptConnections | None = None,
    ) -> None:
        assert kept is None or not snapshot, "a kept connection runs at the pool's isolation level"
        self._engine = engine
        self._kept = kept
        self._writes = writes
        self._snapshot = snapshot
        self._committed = False
        self._commit_with_last_batch = commit_with_last_batch
        self._commit_in_batch = False

    def __enter__(self) -> Self:
        connection = self._engine.connect() if self._kept is None else self._kept.connect()
        self.connection = connection.execution_options(kopek_writes=self._writes)
        if self._snapshot and self.connection.dialect.name == "postgresql":
            # Every read of the transaction sees one point in time (SQLite's read transaction already does).
            self.connection = self.connection.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=not self._writes)
        # On PostgreSQL the transaction begins with its first statement; a batch sends BEGIN in its own pipeline
        # (kopek.store.driver_batch), so it costs no round trip of its own.
        self._commit_in_batch = self._commit_with_last_batch and self.connection.dialect.name == "postgresql"
        try:
            self._transaction = self.connection.begin()
        except BaseException:
            self._release()
            raise
        return self

    # The stores of the tables, each made on first use: most units of work use two or three of them.

    @cached_property
    def master(self) -> MasterStore:
        return MasterStore(self.connection)

    @cached_property
    def api_keys(self) -> ApiKeyStore:
        return ApiKeyStore(self.connection)

    @cached_property
    def audit(self) -> AuditStore:
        return AuditStore(self.connection)

    @cached_property
    def counters(self) -> CounterStore:
        return CounterStore(self.connection)

    @cached_property
    def counter_journal(self) -> CounterJournalStore:
        return CounterJournalStore(self.connection)

    @cached_property
    def charging(self) -> ChargingStore:
        return ChargingStore(self.connection)

    @cached_property
    def notifications(self) -> NotificationStore:
        return NotificationStore(self.connection)

    @cached_property
    def catalogs(self) -> CatalogStore:
        return CatalogStore(self.connection)

    @cached_property
    def sessions(self) -> SessionStore:
        return SessionStore(self.connection)

    @cached_property
    def contract_states(self) -> ContractStateStore:
        return ContractStateStore(self.connection)

    @cached_property
    def cdrs(self) -> CdrStore:
        return CdrStore(self.connection)

    @cached_property
    def rating_jobs(self) -> RatingJobStore:
        return RatingJobStore(self.connection)

    @cached_property
    def rating_paths(self) -> RatingPathStore:
        return RatingPathStore(self.connection)

    @cached_property
    def activations(self) -> ActivationStore:
        return ActivationStore(self.connection)

    @cached_property
    def item_files(self) -> ItemFileStore:
        return ItemFileStore(self.connection)

    @cached_property
    def protocols(self) -> ProtocolStore:
        return ProtocolStore(self.connection)

    @cached_property
    def ledger(self) -> LedgerStore:
        return LedgerStore(self.connection)

    @cached_property
    def recharges(self) -> RechargeStore:
        return RechargeStore(self.connection)

    @cached_property
    def charge(self) -> ChargeStore:
        return ChargeStore(self.connection)

    def batch(self) -> DriverBatch:
        """A batch of prebuilt statements on this unit of work's transaction (on PostgreSQL the first one also begins it)."""
        return DriverBatch(self.connection)

    def commit(self) -> None:
        assert not self._committed, "a unit of work commits once"
        try:
            self._transaction.commit()
        except sa.exc.DBAPIError as error:
            if error.connection_invalidated:
                raise CommitOutcomeUnknownError("the database connection was lost during the commit") from error
            raise
        self._committed = True

    def commit_with(self, batch: DriverBatch) -> None:
        """Send ``batch``'s statements and commit: on PostgreSQL, in a unit of work made with ``commit_with_last_batch``,
        COMMIT goes as the batch's last statement, so the last writes cost no round trip of their own."""
        if not self._commit_in_batch or not len(batch):
            batch.run()
            self.commit()
            return
        assert not self._committed, "a unit of work commits once"
        batch.add(COMMIT, {})
        try:
            batch.run()
        except sa.exc.DBAPIError as error:
            if error.connection_invalidated:
                raise CommitOutcomeUnknownError("the database connection was lost during the commit") from error
            raise
        # The server has committed: the driver, which sees the connection out of any transaction, sends nothing more.
        self._transaction.commit()
        self._committed = True

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        try:
            if not self._committed and self._transaction.is_active:
                if error is None and not self._writes:
                    # A reading unit of work left cleanly ends with COMMIT, which changes nothing: a ROLLBACK would make
                    # psycopg deallocate every statement it prepared on the connection, to be parsed and planned again.
                    self._transaction.commit()
                else:
                    self._transaction.rollback()
        finally:
            self._release()

    def _release(self) -> None:
        if self._kept is None:
            self.connection.close()
        else:
            self._kept.give_back(self.connection)

    @property
    def dialect(self) -> str:
        return self.connection.dialect.name
