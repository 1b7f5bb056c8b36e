"""``kopek.Engine``: the Python API, and the one place where kopek is wired together.

An engine opens a database by URL (SQLite file by default, PostgreSQL by URL),
brings its schema up to date and offers every operation. HTTP and CLI are thin
layers over an engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import pydantic
import sqlalchemy as sa

from kopek import limits
from kopek.admin import api_keys, listing, master_data
from kopek.admin.api_keys import ApiKeyAccess, ApiKeyRole, ApiKeyView, CreatedApiKey
from kopek.admin.audit import AuditRecord
from kopek.admin.catalog import CatalogDiff, CatalogVersionSummary, catalog_diff, load_catalog, stored_version
from kopek.admin.ledger import LedgerReport, verify_ledger
from kopek.admin.master_data import (
    AccessInput,
    AccountInput,
    AccountUpdate,
    AdjustmentInput,
    ContractInput,
    ContractUpdate,
    MasterDataDocument,
    SubscriberAccountInput,
    SubscriberAccountUpdate,
)
from kopek.admin.views import (
    AccessView,
    AccountOperationRecord,
    ContractSummary,
    ContractView,
    SubscriberAccountView,
    access_view,
    contract_view,
    operation_records,
    subscriber_account_view,
)
from kopek.batch.cdr_files import Row, read_cdr_file
from kopek.batch.cdr_import import ImportReport, import_cdrs
from kopek.batch.cdr_views import CdrView, cdr_view
from kopek.batch.partition_rating import CDRS_PER_CHUNK, PathTally, Progress, StopRequested
from kopek.batch.rating_jobs import (
    PARTITION_LEASE_SECONDS,
    JobFilters,
    JobState,
    JobStatus,
    RatingJobSummary,
    RatingMode,
    RatingPath,
    cancel_job,
    fail_job,
    job_status,
    run_workers,
    start_job,
)
from kopek.charging import authorizations, fees, refills, sessions
from kopek.charging.authorization_views import AuthorizationResult, AuthorizationView, Authorize, Capture
from kopek.charging.offline import ChargeCommand, ChargingContext, account_view, charge
from kopek.charging.price_enquiry import PriceEnquiry, Quote, QuoteCommand, enquire_price, quote
from kopek.charging.results import AccountView, ChargeResult, ResultOptions
from kopek.charging.session_retention import SESSION_RETENTION_SECONDS_DEFAULT, check_retention, remove_ended_sessions
from kopek.charging.session_views import (
    CleanupReport,
    SessionResult,
    SessionStatus,
    SessionView,
    StartSession,
    StopSession,
    UpdateSession,
)
from kopek.clock import Clock, IdSource, Ticks, random_ids, system_clock, system_ticks
from kopek.documents import read_document
from kopek.domain.catalog import Catalog
from kopek.domain.catalog_load import catalog_from_document
from kopek.domain.item import ChargeableItem
from kopek.domain.master import ContractStatus, SubscriberAccountStatus
from kopek.domain.validation import invalid_input
from kopek.errors import Code, DoesNotExistError, InvalidError, KopekError
from kopek.export.layout import ItemFileFormat, ItemFileKind
from kopek.export.run import ExportRequest, FileWritten
from kopek.export.run import export_item_files as run_export
from kopek.export.views import ExportReport, ItemFileView, item_file_view
from kopek.heap import frozen_heap
from kopek.migration.export import open_export
from kopek.migration.lock import LockAction, MigrationLockResult, change_lock
from kopek.migration.restore import RestoreContext, RestoreMode, RestoreReport, restore
from kopek.migration.state import ContractState
from kopek.money import to_text
from kopek.notify.documents import ListedNotification, listed_notification
from kopek.notify.outbox import NotificationOutbox
from kopek.notify.publisher import PublisherSettings, PublishReport, publish_pending
from kopek.rating.outcome import NotificationKind
from kopek.recharging import jobs as recharge_jobs
from kopek.recharging import recharge as recharging
from kopek.recharging.jobs import RechargeJobFilters
from kopek.recharging.pruning import prune_counter_journal
from kopek.recharging.restoration import restoration_point_view
from kopek.recharging.views import JournalPruning, PricingPath, RechargeResult, RestorationPointView
from kopek.store.api_key_cache import ApiKeyCache
from kopek.store.audit_store import REFUSED, AuditFilter
from kopek.store.catalog_cache import CatalogCache, CatalogVersion
from kopek.store.database import database_url, kept_connections, open_database
from kopek.store.listing_store import AccessFilter, CdrFilter, ContractFilter, SessionFilter, SubscriberAccountFilter
from kopek.store.uow import UnitOfWork


class Engine:
    """kopek on one database. Thread-safe: every call runs its own unit of work."""

    def __init__(
        self,
        url: str | None = None,
        *,
        clock: Clock = system_clock,
        new_id: IdSource = random_ids,
        create_schema: bool = True,
        ticks: Ticks = system_ticks,
        recharge_retention_days: int | None = None,
    ) -> None:
        """``ticks`` is the monotonic clock of the in-memory caches of the newest catalog and of the active API keys,
        which read their tables again after a second (tests advance it instead of waiting)."""
        self.url = database_url(url)
        self._retention_days = recharging.retention_days(recharge_retention_days)
        self.database = open_database(self.url, create_schema=create_schema)
        self._clock = clock
        self._new_id = new_id
        self._catalogs = CatalogCache(ticks)
        self._api_keys = ApiKeyCache(self.database, ticks)
        self._kept = kept_connections(self.database)
        self._charging = ChargingContext(self.database, self._catalogs, clock, new_id, self._kept)

    def close(self) -> None:
        if self._kept is not None:
            self._kept.close()
        self.database.dispose()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _uow(self, *, writes: bool = True) -> UnitOfWork:
        return UnitOfWork(self.database, writes=writes)

    # ---- catalog ------------------------------------------------------------------------

    def load_catalog(self, source: Path | str | dict[str, Any], *, actor: str = "system") -> int:
        """Validate and store a catalog (a file path or a parsed document); returns its version."""
        return self.load_catalog_version(source, actor=actor).version

    def load_catalog_version(self, source: Path | str | dict[str, Any], *, actor: str = "system") -> CatalogVersion:
        """Like :meth:`load_catalog`, telling also whether a version was created (not: the newest already was this catalog)."""
        name = str(source) if isinstance(source, Path | str) else "request"
        with self._audited(actor, "catalog.load", "catalog", {"source": name}):
            document = read_document(Path(source)) if isinstance(source, Path | str) else source
            try:
                with self._uow() as uow:
                    return load_catalog(uow, document, source=name, actor=actor, at=self._clock())
            finally:
                self._catalogs.forget()

    def catalog(self) -> CatalogVersion:
        with self._uow(writes=False) as uow:
            return self._catalogs.current(uow)

    def catalog_versions(self, *, after_id: int = 0, limit: int = 100) -> list[CatalogVersionSummary]:
        """The stored catalog versions after version ``after_id``, oldest first: when each was loaded and from what."""
        with self._uow(writes=False) as uow:
            return listing.catalog_version_page(uow, after=_stored_id(after_id, "after_id"), limit=_page_size(limit))

    def catalog_version(self, version: int) -> CatalogVersion:
        """Catalog version ``version`` as it was stored (DOES_NOT_EXIST when there is none)."""
        with self._uow(writes=False) as uow:
            return stored_version(uow, _stored_id(version, "version"))

    def catalog_diff(self, from_version: int, to_version: int | None = None) -> CatalogDiff:
        """What changed from catalog version ``from_version`` to ``to_version`` (None: the newest), as a readable list."""
        with self._uow(writes=False) as uow:
            newer = self._catalogs.current(uow) if to_version is None else stored_version(uow, _stored_id(to_version, "to_version"))
            older = stored_version(uow, _stored_id(from_version, "from_version"))
        return catalog_diff(older, newer)

    def _catalog_or_none(self, uow: UnitOfWork) -> Catalog | None:
        try:
            return self._catalogs.current(uow).catalog
        except KopekError:
            return None

    @staticmethod
    def validate_catalog_file(path: Path | str) -> Catalog:
        """Parse and check a catalog file without storing it; raises INVALID listing every fault."""
        return catalog_from_document(read_document(Path(path)), source=str(path))

    def audit_log(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest audit entries, newest first (see :meth:`audit_records` to page through them all)."""
        with self._uow(writes=False) as uow:
            return uow.audit.newest(_page_size(limit))

    # ---- API keys ---------------------------------------------------------------------------

    def create_api_key(self, name: str, role: ApiKeyRole, *, actor: str = "system") -> CreatedApiKey:
        """Create an API key with ``role``; its secret is in the answer and nowhere else."""
        try:
            with self._audited(actor, "api_key.create", name), self._uow() as uow:
                created = api_keys.create_api_key(uow, name, role, actor=actor, at=self._clock())
                uow.commit()
                return created
        finally:
            self._api_keys.forget()

    def revoke_api_key(self, name: str, *, actor: str = "system", force: bool = False) -> None:
        """Revoke an active key; the last one only with ``force`` (see docs/security.md)."""
        try:
            with self._audited(actor, "api_key.revoke", name), self._uow() as uow:
                api_keys.revoke_api_key(uow, name, actor=actor, at=self._clock(), force=force)
                uow.commit()
        finally:
            self._api_keys.forget()

    def api_keys(self) -> list[ApiKeyView]:
        with self._uow(writes=False) as uow:
            return api_keys.api_key_views(uow)

    def authenticate(self, secret: str | None) -> ApiKeyAccess:
        """Who presents ``secret``: an active key, or nobody; and whether any active key exists (else the API is open).

        Answered from memory: a key created or revoked by another process is seen within a second (see
        :mod:`kopek.store.api_key_cache`), one created or revoked by this engine at once."""
        active = self._api_keys.active()
        return ApiKeyAccess(api_keys.authenticate(active, secret), bool(active))

    def authenticate_from_memory(self, secret: str | None) -> ApiKeyAccess | None:
        """:meth:`authenticate` when the keys in memory are fresh enough to answer without reading their table;
        ``None`` when :meth:`authenticate` would read it (at most once a second)."""
        active = self._api_keys.active_if_fresh()
        return None if active is None else ApiKeyAccess(api_keys.authenticate(active, secret), bool(active))

    # ---- master data ----------------------------------------------------------------------

    def create_subscriber_account(self, record: SubscriberAccountInput, *, actor: str = "system") -> SubscriberAccountView:
        """Create a subscriber account with its accounts (opening balances as operations); audited."""
        target = f"subscriber-account/{record.id}"
        with self._audited(actor, "subscriber_account.create", target), self._uow() as uow:
            master_data.create_subscriber_account(uow, record, at=self._clock(), catalog=self._catalog_or_none(uow))
            self._audit(uow, actor, "subscriber_account.create", target, record.model_dump(mode="json", exclude={"id"}))
            uow.commit()
        return self.subscriber_account(record.id)

    def subscriber_account(self, subscriber_account_id: str) -> SubscriberAccountView:
        with self._uow(writes=False) as uow:
            view = subscriber_account_view(uow, subscriber_account_id)
        if view is None:
            raise DoesNotExistError(code=Code.NOT_FOUND, message=f"subscriber account {subscriber_account_id!r} does not exist")
        return view

    def subscriber_accounts(
        self,
        *,
        status: SubscriberAccountStatus | None = None,
        currency: str | None = None,
        after_id: str = "",
        limit: int = 100,
    ) -> list[SubscriberAccountView]:
        """Subscriber accounts with their accounts (and balances) and contract ids, by id after ``after_id``; filters combine."""
        chosen = SubscriberAccountFilter(status=_value(status), currency=currency)
        with self._uow(writes=False) as uow:
            return listing.subscriber_account_page(uow, chosen, after=_cursor(after_id), limit=_page_size(limit))

    def update_subscriber_account(
        self, subscriber_account_id: str, update: SubscriberAccountUpdate, *, actor: str = "system"
    ) -> SubscriberAccountView:
        """Change a subscriber account's status (block, lock, close) or name; audited."""
        target = f"subscriber-account/{subscriber_account_id}"
        with self._audited(actor, "subscriber_account.update", target), self._uow() as uow:
            master_data.update_subscriber_account(uow, subscriber_account_id, update)
            self._audit(uow, actor, "subscriber_account.update", target, update.model_dump(mode="json", exclude_none=True))
            uow.commit()
        return self.subscriber_account(subscriber_account_id)

    def add_account(self, subscriber_account_id: str, record: AccountInput, *, actor: str = "system") -> AccountView:
        """Open an account of a subscriber account (its opening balance an operation); audited."""
        target = f"account/{record.id}"
        with self._audited(actor, "account.create", target), self._uow() as uow:
            master_data.add_account(uow, subscriber_account_id, record, at=self._clock(), catalog=self._catalog_or_none(uow))
            details = {"subscriber_account_id": subscriber_account_id} | record.model_dump(mode="json", exclude={"id"})
            self._audit(uow, actor, "account.create", target, details)
            uow.commit()
        return self.account(record.id)

    def account(self, account_id: str) -> AccountView:
        with self._uow(writes=False) as uow:
            found = uow.master.account(account_id)
        if found is None:
            raise DoesNotExistError(code=Code.NOT_FOUND, message=f"account {account_id!r} does not exist")
        return account_view(found)

    def update_account(self, account_id: str, update: AccountUpdate, *, actor: str = "system") -> AccountView:
        """Change an account's own status (block, lock, close one prepaid or postpaid account); audited."""
        target = f"account/{account_id}"
        with self._audited(actor, "account.update", target), self._uow() as uow:
            account = master_data.update_account(uow, account_id, update)
            self._audit(uow, actor, "account.update", target, update.model_dump(mode="json", exclude_none=True))
            uow.commit()
        return account_view(account)

    def account_operations(self, account_id: str, *, limit: int = 100, after_id: int = 0) -> list[AccountOperationRecord]:
        self.account(account_id)
        with self._uow(writes=False) as uow:
            rows = uow.master.account_operations(account_id, limit=_page_size(limit), after_id=_stored_id(after_id, "after_id"))
        return operation_records(rows)

    def adjust_balance(self, account_id: str, adjustment: AdjustmentInput, *, actor: str = "system") -> AccountView:
        """Add an amount to a balance (a credit when positive), in the places its currency allows; audited."""
        target, details = f"account/{account_id}", {"amount": to_text(adjustment.amount), "reason": adjustment.reason}
        with self._audited(actor, "account.adjust", target, details), self._uow() as uow:
            account = master_data.adjust_balance(uow, account_id, adjustment, at=self._clock(), catalog=self._catalog_or_none(uow))
            self._audit(uow, actor, "account.adjust", target, details | {"balance_after": to_text(account.balance)})
            uow.commit()
        return account_view(account)

    def create_contract(self, record: ContractInput, *, actor: str = "system") -> ContractView:
        target = f"contract/{record.id}"
        with self._audited(actor, "contract.create", target), self._uow() as uow:
            master_data.create_contract(uow, record, self._catalog_or_none(uow))
            self._audit(uow, actor, "contract.create", target, record.model_dump(mode="json", exclude={"id"}))
            uow.commit()
        return self.contract(record.id)

    def contract(self, contract_id: str) -> ContractView:
        with self._uow(writes=False) as uow:
            return contract_view(uow, master_data.require_contract(uow, contract_id))

    def contracts(
        self,
        *,
        subscriber_account_id: str | None = None,
        status: ContractStatus | None = None,
        charge_plan: str | None = None,
        account_id: str | None = None,
        parent_id: str | None = None,
        valid_at: datetime | None = None,
        after_id: str = "",
        limit: int = 100,
    ) -> list[ContractSummary]:
        """Contracts by id after ``after_id``: of a subscriber account, in a status, activating a charge plan, naming an
        account in their roles (what it pays for), linked to a parent, valid at an instant; filters combine."""
        chosen = ContractFilter(subscriber_account_id, _value(status), charge_plan, account_id, parent_id, valid_at)
        with self._uow(writes=False) as uow:
            return listing.contract_page(uow, chosen, after=_cursor(after_id), limit=_page_size(limit))

    def update_contract(self, contract_id: str, update: ContractUpdate, *, actor: str = "system") -> ContractView:
        """Change a contract's end of validity, status, items or roles; audited with the fields sent."""
        target = f"contract/{contract_id}"
        with self._audited(actor, "contract.update", target), self._uow() as uow:
            master_data.update_contract(uow, contract_id, update, self._catalog_or_none(uow))
            self._audit(uow, actor, "contract.update", target, update.model_dump(mode="json", include=update.model_fields_set))
            uow.commit()
        return self.contract(contract_id)

    def create_access(self, record: AccessInput, *, actor: str = "system") -> AccessView:
        target = f"access/{record.service_id}/{record.user_id}"
        with self._audited(actor, "access.create", target), self._uow() as uow:
            access = master_data.create_access(uow, record)
            self._audit(uow, actor, "access.create", target, record.model_dump(mode="json"))
            uow.commit()
        return access_view(access)

    def accesses(
        self,
        service_id: str | None = None,
        user_id: str | None = None,
        *,
        contract_id: str | None = None,
        valid_at: datetime | None = None,
        after_id: int = 0,
        limit: int = 100,
    ) -> list[AccessView]:
        """Accesses by id after ``after_id``: of a service id, a user id, a contract, valid at an instant; filters combine."""
        chosen = AccessFilter(service_id, user_id, contract_id, valid_at)
        with self._uow(writes=False) as uow:
            return listing.access_page(uow, chosen, after=_stored_id(after_id, "after_id"), limit=_page_size(limit))

    def load_master_data(self, source: Path | str | MasterDataDocument, *, actor: str = "system") -> dict[str, int]:
        """Create every record of a master data file or document, all or nothing; audited as one operation."""
        name = "request" if isinstance(source, MasterDataDocument) else str(source)
        with self._audited(actor, "master_data.load", "master-data", {"source": name}):
            document = source if isinstance(source, MasterDataDocument) else _master_data_file(Path(source))
            with self._uow() as uow:
                counts = master_data.load_master_data(uow, document, self._catalog_or_none(uow), at=self._clock())
                self._audit(uow, actor, "master_data.load", "master-data", {"source": name, **counts})
                uow.commit()
        return counts

    # ---- the audit log (see docs/security.md) -------------------------------------------------

    def audit_records(self, chosen: AuditFilter | None = None, *, after_id: int = 0, limit: int = 100) -> list[AuditRecord]:
        """The audit records matching ``chosen`` with an id above ``after_id``, oldest first."""
        with self._uow(writes=False) as uow:
            rows = uow.audit.page(chosen or AuditFilter(), after_id=_stored_id(after_id, "after_id"), limit=_page_size(limit))
        return [AuditRecord.model_validate(row) for row in rows]

    def _audit_alone(self, actor: str, action: str, target: str, details: dict[str, Any]) -> None:
        """Record an operation that committed in several transactions of its own, once it is over."""
        with self._uow() as uow:
            self._audit(uow, actor, action, target, details)
            uow.commit()

    def _audit(self, uow: UnitOfWork, actor: str, action: str, target: str, details: dict[str, Any]) -> None:
        """Record a succeeded operation in its own unit of work: both commit, or neither."""
        uow.audit.record(at=self._clock(), actor=actor, action=action, target=target, details=details)

    @contextmanager
    def _audited(self, actor: str, action: str, target: str, details: dict[str, Any] | None = None) -> Iterator[None]:
        """Record a refused attempt of an audited operation, in a transaction of its own, then let the error go on."""
        try:
            yield
        except KopekError as error:
            refused = {**(details or {}), "error": {"category": error.category.value, "code": error.code.value}}
            with self._uow() as uow:
                uow.audit.record(at=self._clock(), actor=actor, action=action, target=target, details=refused, outcome=REFUSED)
                uow.commit()
            raise

    # ---- charging ---------------------------------------------------------------------------

    def charge(
        self,
        item: ChargeableItem,
        options: ResultOptions | None = None,
        *,
        idempotency_key: str | None = None,
        sender_job_id: str | None = None,
    ) -> ChargeResult:
        """Charge one chargeable item (offline charging); see :mod:`kopek.charging.offline`."""
        command = ChargeCommand(item, options or ResultOptions(), idempotency_key, sender_job_id)
        return charge(command, self._charging)

    def price_enquiry(self, item: ChargeableItem) -> PriceEnquiry:
        """What ``item`` would cost now, rated as a charge would be, changing nothing."""
        return enquire_price(item, self._charging)

    def quote(self, item: ChargeableItem, *, quantity: object | None = None, maximum_affordable: bool = False) -> Quote:
        """What ``item`` (with ``quantity`` as its quantity, if given) would cost now, by charge and pricing node, with
        the allowances it would use and, asked for, the maximum affordable quantity; writes nothing."""
        return quote(QuoteCommand(item, quantity, maximum_affordable), self._charging)

    # ---- batch rating: the CDR store (see docs/batch.md) ------------------------------------------

    def import_cdrs(self, rows: Iterable[Row], *, strict: bool = False) -> ImportReport:
        """Store CDRs given as ``(line, record)`` rows; refused rows are reported (``strict``: the first one raises)."""
        return import_cdrs(self.database, rows, clock=self._clock, strict=strict)

    def import_cdr_file(self, path: Path | str, *, strict: bool = False) -> ImportReport:
        """Store the CDRs of a CSV, Parquet or JSON lines file, streamed row by row."""
        return self.import_cdrs(read_cdr_file(Path(path)), strict=strict)

    def cdr(self, cdr_id: str) -> CdrView:
        with self._uow(writes=False) as uow:
            row = uow.cdrs.cdr(cdr_id)
        if row is None:
            raise DoesNotExistError(code=Code.NOT_FOUND, message=f"CDR {cdr_id!r} does not exist")
        return cdr_view(row)

    def cdrs(
        self,
        *,
        status: str | None = None,
        contract_id: str | None = None,
        job_id: str | None = None,
        item_class: str | None = None,
        date_from: datetime | None = None,
        date_to: datetime | None = None,
        after_id: str = "",
        limit: int = 100,
        chunk_id: str | None = None,
    ) -> list[CdrView]:
        """Stored CDRs by id after ``after_id``: in a status (pending, charged, failed, skipped), of a contract, of a rating
        job, of an item class, consumed in ``[date_from, date_to)``, rated by a chunk of a rating job (the ``chunk_id`` of
        its account operations); filters combine."""
        chosen = CdrFilter(status, contract_id, job_id, item_class, date_from, date_to, chunk_id)
        with self._uow(writes=False) as uow:
            return listing.cdr_page(uow, chosen, after=_cursor(after_id), limit=_page_size(limit))

    def cdr_counts(self) -> dict[str, int]:
        """How many stored CDRs have each status (statuses without CDRs are absent)."""
        with self._uow(writes=False) as uow:
            return uow.cdrs.count_by_status()

    def start_rating_job(self, mode: RatingMode, filters: JobFilters | None = None, *, actor: str = "system") -> str:
        """Create a rating job over the pending CDRs that no job holds (within ``filters``); returns its id, charges nothing yet.

        Refused (nothing written) without a loaded catalog (``catalog_not_loaded``) and for faulty filters (INVALID,
        each fault's ``location`` naming its field; see :func:`kopek.batch.rating_jobs.check_filters`)."""
        job_id = f"job-{self._new_id()}"
        with self._audited(actor, "rating_job.start", f"rating-job/{job_id}"), self._uow() as uow:
            catalog = self._catalogs.current(uow).catalog
            start_job(uow, job_id, mode, filters or JobFilters(), actor=actor, at=self._clock(), catalog=catalog)
            uow.commit()
        return job_id

    def run_rating_job(
        self,
        job_id: str,
        *,
        progress: Progress | None = None,
        worker_id: str | None = None,
        lease_seconds: float = PARTITION_LEASE_SECONDS,
        chunk_cdrs: int = CDRS_PER_CHUNK,
        path: RatingPath = RatingPath.AUTO,
        tally: PathTally | None = None,
        stop: StopRequested | None = None,
        workers: int = 1,
    ) -> JobStatus:
        """Work on the job as ``workers`` workers until none of its partitions is open or running (again after a stop: it
        resumes).

        Several workers may run one job at once (threads of this call, other processes, machines on one PostgreSQL);
        see docs/batch.md. On PostgreSQL two workers in one process use two cores; on SQLite they take turns.
        ``chunk_cdrs`` CDRs are charged and committed together; ``tally`` is told what each committed chunk handled on
        which path (for metrics); ``stop`` is asked between chunks, and once it answers True the workers give their
        partitions back and return (the job ``interrupted`` when no other worker runs it, resumable). Returns the job's
        status.
        """
        try:
            with frozen_heap():
                run_workers(
                    job_id,
                    self._charging,
                    workers=workers,
                    progress=progress,
                    worker_id=worker_id,
                    lease_seconds=lease_seconds,
                    chunk_cdrs=chunk_cdrs,
                    path=path,
                    tally=tally,
                    stop=stop,
                )
        except KopekError:
            raise
        except Exception:
            fail_job(job_id, self._charging)
            raise
        return self.rating_job(job_id)

    def cancel_rating_job(self, job_id: str, *, actor: str = "system") -> JobStatus:
        """Cancel a job that has not finished: its workers stop at their next chunk, its pending CDRs go back to the store."""
        with self._audited(actor, "rating_job.cancel", f"rating-job/{job_id}"), self._uow() as uow:
            cancel_job(uow, job_id, actor=actor, at=self._clock())
            uow.commit()
        return self.rating_job(job_id)

    def rating_job(self, job_id: str) -> JobStatus:
        with self._uow(writes=False) as uow:
            return job_status(uow, job_id)

    def rating_jobs(self, *, state: JobState | None = None, after_id: str = "", limit: int = 100) -> list[RatingJobSummary]:
        """Rating jobs by id (so by creation) after ``after_id``, optionally in one state."""
        with self._uow(writes=False) as uow:
            return listing.rating_job_page(uow, state=_value(state), after=_cursor(after_id), limit=_page_size(limit))

    # ---- item files (see docs/item-files.md) ------------------------------------------------------

    def export_item_files(
        self,
        directory: Path | str,
        *,
        kinds: Sequence[ItemFileKind] | None = None,
        file_format: ItemFileFormat = ItemFileFormat.PARQUET,
        rows_per_file: int = limits.ITEM_FILE_ROWS_DEFAULT,
        progress: FileWritten | None = None,
        actor: str = "system",
    ) -> ExportReport:
        """Write every item not yet in a file of its kind (all kinds when None) into files of at most
        ``rows_per_file`` rows under ``directory``, each with a manifest; exactly once, even across crashes. Audited
        once the files are written."""
        chosen = tuple(ItemFileKind(kind) for kind in kinds or ItemFileKind)
        details: dict[str, Any] = {"kinds": [kind.value for kind in chosen], "format": ItemFileFormat(file_format).value}
        with self._audited(actor, "item_files.export", "item-files", details):
            request = ExportRequest(Path(directory), chosen, ItemFileFormat(file_format), rows_per_file)
            report = run_export(self.database, request, clock=self._clock, progress=progress)
            counts = {"files_written": report.files_written, "rows_written": report.rows_written}
            self._audit_alone(actor, "item_files.export", "item-files", details | counts)
        return report

    def item_files(self, *, kind: ItemFileKind | None = None, limit: int = 100, after_id: int = 0) -> list[ItemFileView]:
        """The index of item files (of one kind, or all), oldest first."""
        with self._uow(writes=False) as uow:
            records = uow.item_files.files(
                kind=kind.value if kind else None, after_id=_stored_id(after_id, "after_id"), limit=_page_size(limit)
            )
        return [item_file_view(record) for record in records]

    def item_file(self, file_id: int) -> ItemFileView:
        """One item file's manifest as the index holds it."""
        with self._uow(writes=False) as uow:
            record = uow.item_files.file(_stored_id(file_id, "file_id"))
        if record is None:
            raise DoesNotExistError(code=Code.NOT_FOUND, message=f"item file {file_id} does not exist")
        return item_file_view(record)

    # ---- contract state migration (see docs/migration.md) ---------------------------------------

    def begin_migration(self, contract_ids: Sequence[str] | None = None, *, actor: str = "system") -> MigrationLockResult:
        """Mark the contracts (all when None) ``migrating``: charging them answers TEMPORARY_ILLEGAL_STATE."""
        return self._migration_lock(LockAction.BEGIN, contract_ids, actor)

    def end_migration(self, contract_ids: Sequence[str] | None = None, *, actor: str = "system") -> MigrationLockResult:
        """Mark the migrating contracts (all when None) ``active`` again."""
        return self._migration_lock(LockAction.END, contract_ids, actor)

    def _migration_lock(self, action: LockAction, contract_ids: Sequence[str] | None, actor: str) -> MigrationLockResult:
        with self._audited(actor, f"migration.{action.value}", "contracts"), self._uow() as uow:
            result = change_lock(uow, action, contract_ids, actor=actor, at=self._clock())
            uow.commit()
        return result

    def export_contract_states(self, contract_ids: Sequence[str] | None = None) -> Iterator[ContractState]:
        """The states of the contracts (all when None) at one point in time, read lazily page by page; each carries the
        pools (counters of scope ``shared``) its plans use, as the current catalog declares them."""
        with self._uow(writes=False) as uow:
            catalog = self._catalog_or_none(uow)
        return open_export(self.database, contract_ids, catalog=catalog)

    def restore_contract_states(self, lines: Iterable[str], mode: RestoreMode, *, actor: str = "system") -> RestoreReport:
        """Restore contract states from JSON lines onto ``migrating`` contracts; never a counter reset nor a refill."""
        with self._audited(actor, "contract_states.restore", "contract_states", {"mode": mode.value}), frozen_heap():
            return restore(lines, mode, RestoreContext(self.database, self._catalogs, self._clock), actor=actor)

    # ---- online charging sessions (see docs/sessions.md) ---------------------------------------

    def start_session(self, command: StartSession) -> SessionResult:
        """Open a charging session: grant the largest affordable quantity up to the request and reserve its price."""
        return sessions.start_session(command, self._charging)

    def update_session(self, command: UpdateSession) -> SessionResult:
        """Charge the usage since the last grant, as offline charging would, and reserve the next grant."""
        return sessions.update_session(command, self._charging)

    def stop_session(self, command: StopSession) -> SessionResult:
        """Charge the final usage, release the rest of the reservation and end the session."""
        return sessions.stop_session(command, self._charging)

    def cancel_session(self, session_id: str, *, idempotency_key: str | None = None) -> SessionResult:
        """Release the session's reservation without charging, and end it; a retry with ``idempotency_key`` answers the
        first result."""
        return sessions.cancel_session(session_id, self._charging, idempotency_key=idempotency_key)

    def stop_reservation(
        self, reservation_id: str, used: dict[str, object] | None = None, *, idempotency_key: str | None = None
    ) -> list[SessionResult]:
        """End every live session of a multiservice session; ``used`` gives final usage per session id. A retry with
        ``idempotency_key`` answers the first results."""
        return sessions.stop_reservation(reservation_id, used or {}, self._charging, idempotency_key=idempotency_key)

    def session(self, session_id: str) -> SessionView:
        return sessions.read_session(session_id, self._charging)

    # ---- authorizations: offline requests that only reserve (see docs/authorizations.md) ----------

    def authorize(self, command: Authorize, *, actor: str = "system") -> AuthorizationResult:
        """Reserve the amount of an item for authorization, to be captured or released by its reservation id; audited
        (a refused attempt too); a retry with the command's idempotency key answers the first result."""
        with self._audited(actor, "authorization.create", f"reservation/{command.reservation_id or ''}"):
            return authorizations.authorize(command, self._charging, actor=actor)

    def capture_authorization(self, command: Capture, *, actor: str = "system") -> AuthorizationResult:
        """Charge an authorized item (with its final quantity, if given) and end the authorization; audited."""
        with self._audited(actor, "authorization.capture", f"reservation/{command.reservation_id}"):
            return authorizations.capture(command, self._charging, actor=actor)

    def release_authorization(
        self, reservation_id: str, *, idempotency_key: str | None = None, actor: str = "system"
    ) -> AuthorizationResult:
        """Release an authorization's reservation without charging, and end it; audited."""
        with self._audited(actor, "authorization.release", f"reservation/{reservation_id}"):
            return authorizations.release(reservation_id, self._charging, idempotency_key=idempotency_key, actor=actor)

    def authorization(self, reservation_id: str) -> AuthorizationView:
        return authorizations.read_authorization(reservation_id, self._charging)

    def sessions(
        self,
        *,
        status: SessionStatus | None = None,
        subscriber_account_id: str | None = None,
        contract_id: str | None = None,
        reservation_id: str | None = None,
        after_id: str = "",
        limit: int = 100,
    ) -> list[SessionView]:
        """Charging sessions, live or ended (until the clean-up removes them), by id after ``after_id``: in a status, of a
        subscriber account, a contract or a multiservice reservation; filters combine."""
        chosen = SessionFilter(_value(status), subscriber_account_id, contract_id, reservation_id)
        return sessions.session_page(chosen, self._charging, after=_cursor(after_id), limit=_page_size(limit))

    def live_sessions(self, subscriber_account_id: str, *, limit: int = 100) -> list[SessionView]:
        """The live (active) sessions of a subscriber account, oldest first."""
        return sessions.live_sessions(subscriber_account_id, self._charging, limit=_page_size(limit))

    def cleanup_session(self, session_id: str) -> SessionResult:
        """Force the clean-up of one live session: end it now with its default resolution."""
        return sessions.cleanup_session(session_id, self._charging)

    def cleanup_expired_sessions(
        self, *, actor: str | None = None, retention_seconds: int = SESSION_RETENTION_SECONDS_DEFAULT
    ) -> CleanupReport:
        """One clean-up pass: end the sessions past their expiry with their default resolution, then remove the sessions
        that ended ``retention_seconds`` ago or more (see docs/sessions.md).

        Audited when an ``actor`` asks for it (``POST /v1/sessions:cleanup``); the server's own periodic pass is not."""
        check_retention(retention_seconds)
        if actor is None:
            return self._cleanup(retention_seconds)
        with self._audited(actor, "sessions.cleanup", "sessions"):
            report = self._cleanup(retention_seconds)
            self._audit_alone(actor, "sessions.cleanup", "sessions", {"resolved": len(report.resolved), "removed": report.removed})
        return report

    def _cleanup(self, retention_seconds: int) -> CleanupReport:
        report = sessions.cleanup_expired(self._charging)
        removed = remove_ended_sessions(self._charging, retention_seconds=retention_seconds)
        return report.model_copy(update={"removed": removed})

    # ---- fees and refills (see docs/catalog.md, Fees and Refill plans) ------------------------------

    def run_fees(self, until: datetime, *, notifications: bool = False, actor: str = "system") -> fees.FeeRunReport:
        """Charge every fee period starting at or before ``until`` (not after now) not charged yet, each exactly once;
        ``notifications`` lists the ``fee_applied`` notifications in the report (they are stored either way).
        Audited once the run is over, with its counts (each contract commits on its own)."""
        with self._audited(actor, "fees.run", "fees", {"until": until.isoformat()}):
            report = fees.run_fees(until, self._charging, notifications=notifications)
            counted = report.model_dump(mode="json", include={"contracts_seen", "contracts_charged", "fees_applied", "skipped", "failed"})
            self._audit_alone(actor, "fees.run", "fees", {"until": until.isoformat()} | counted)
        return report

    def activations(self, contract_id: str) -> list[fees.ActivationView]:
        """The charge activations of a contract: status and last activation date."""
        return fees.read_activations(contract_id, self._charging)

    def refill(self, command: refills.RefillCommand, *, actor: str = "system") -> refills.RefillResult:
        """Credit a prepaid balance by a refill plan (with its bonus units); a retry with the same refill id changes nothing more.
        Audited in the refill's own commit (a replay adds no record); a refused refill is audited too."""
        details = {"refill_id": command.refill_id, "refill_plan": command.refill_plan}
        with self._audited(actor, "refill.apply", f"contract/{command.contract_id}", details):
            return refills.refill(command, self._charging, actor=actor)

    # ---- notifications (see docs/notifications.md) -----------------------------------------------

    def notifications(
        self, *, contract_id: str | None = None, kind: NotificationKind | None = None, after_id: int = 0, limit: int = 100
    ) -> list[ListedNotification]:
        """Stored notifications with an id above ``after_id``, oldest first, optionally of one contract and kind."""
        with self._uow(writes=False) as uow:
            rows = uow.notifications.page(
                contract_id=contract_id,
                kind=kind.value if kind else None,
                after_id=_stored_id(after_id, "after_id"),
                limit=_page_size(limit),
            )
        return [listed_notification(row) for row in rows]

    def notification_outbox(self) -> NotificationOutbox:
        """The notifications waiting for their publication (the server's publisher loop drains it)."""
        return NotificationOutbox(self.database, self._clock)

    def publish_notifications(self, settings: PublisherSettings) -> PublishReport:
        """One publishing pass to NATS JetStream, e.g. from cron; call it outside a running event loop."""
        return asyncio.run(publish_pending(self.notification_outbox(), settings))

    # ---- recharging (see docs/recharging.md) ---------------------------------------------------------

    def recharge(
        self,
        contract_id: str,
        from_date: datetime,
        *,
        catalog_version: int | None = None,
        path: RatingPath = RatingPath.ROW,
        actor: str = "system",
    ) -> RechargeResult:
        """Charge the contract's usage since ``from_date`` again with catalog ``catalog_version`` (none: the newest) and write
        the differences as corrections and compensating account operations; all or nothing; audited. ``path`` ``row`` (the
        default, the faster) prices the items one at a time, ``auto`` column-wise where the contract's plans allow it."""
        command = recharging.RechargeCommand(contract_id, from_date, catalog_version)
        paths = (PricingPath.COLUMNAR, PricingPath.ROW) if path is RatingPath.AUTO else (PricingPath.ROW,)
        run = recharging.RechargeRun(actor, self._retention_days, paths=paths)
        with self._audited(actor, "recharge", f"contract/{contract_id}", {"from_date": from_date.isoformat()}):
            return recharging.recharge(command, self._charging, run)

    def start_recharge_job(self, filters: RechargeJobFilters, *, actor: str = "system") -> str:
        """Create a mass recharging job over the contracts ``filters`` choose; returns its id, recharges nothing yet."""
        job_id = f"recharge-job-{self._new_id()}"
        with self._audited(actor, "recharge_job.start", f"recharge-job/{job_id}"), self._uow() as uow:
            catalog = self._catalogs.current(uow) if filters.catalog_version is None else stored_version(uow, filters.catalog_version)
            recharge_jobs.start_job(uow, job_id, filters, catalog=catalog, actor=actor, at=self._clock())
            uow.commit()
        return job_id

    def run_recharge_job(
        self,
        job_id: str,
        *,
        progress: recharge_jobs.Progress | None = None,
        worker_id: str | None = None,
        lease_seconds: float = PARTITION_LEASE_SECONDS,
        path: RatingPath = RatingPath.ROW,
        actor: str = "system",
    ) -> recharge_jobs.RechargeJobStatus:
        """Work on the job as one worker until none of its contracts is open or running (again after a stop: it resumes);
        each contract is recharged exactly once, whatever the number of workers and stops. ``path`` ``row`` (the default,
        the faster) prices a contract's items one at a time, ``auto`` column-wise where its plans take the vectorized path."""
        try:
            recharge_jobs.run_job(
                job_id, self._charging, actor=actor, retention_days=self._retention_days, progress=progress,
                worker_id=worker_id, lease_seconds=lease_seconds, path=path,
            )  # fmt: skip
        except KopekError:
            raise
        except Exception:
            recharge_jobs.fail_job(job_id, self._charging)
            raise
        return self.recharge_job(job_id)

    def recharge_job(self, job_id: str) -> recharge_jobs.RechargeJobStatus:
        with self._uow(writes=False) as uow:
            return recharge_jobs.job_status(uow, job_id)

    def restoration_point(self, contract_id: str, at: datetime) -> RestorationPointView:
        """The contract's state as of ``at`` (a migration contract state) and what the items since did to its accounts."""
        with self._uow(writes=False) as uow:
            return restoration_point_view(uow, contract_id, at, now=self._clock(), retention_days=self._retention_days)

    def prune_counter_journal(self, *, limit: int = limits.COUNTER_JOURNAL_PRUNE_BATCH_MAX) -> JournalPruning:
        """One bounded pass deleting the counter journal's entries older than the retention window of restoration points
        (``more`` tells whether another pass has work); see docs/recharging.md, Retention."""
        if not 1 <= limit <= limits.COUNTER_JOURNAL_PRUNE_BATCH_MAX:
            raise InvalidError(
                code=Code.LIMIT_EXCEEDED,
                message=f"a pruning pass deletes 1 to {limits.COUNTER_JOURNAL_PRUNE_BATCH_MAX} entries, not {limit}",
            )
        return prune_counter_journal(self._charging, retention_days=self._retention_days, limit=limit)

    # ---- the ledger (see docs/reliability.md) ---------------------------------------------------------

    def verify_ledger(self) -> LedgerReport:
        """Check, in one snapshot, that every balance is the sum of its account operations, every reservation belongs
        to a live session, and every charged item is posted by exactly one account operation."""
        return verify_ledger(self.database)

    def now(self) -> datetime:
        return self._clock()

    def ping(self) -> None:
        """Raise unless the database answers."""
        with self.database.connect() as connection:
            connection.execute(sa.text("SELECT 1"))


def _page_size(limit: int) -> int:
    if not 1 <= limit <= limits.LIST_PAGE_SIZE_MAX:
        raise InvalidError(code=Code.LIMIT_EXCEEDED, message=f"a page holds 1 to {limits.LIST_PAGE_SIZE_MAX} records, not {limit}")
    return limit


def _cursor(after_id: str) -> str:
    """``after_id`` when it may be a record's id (or empty: from the first); else INVALID, never a database fault."""
    if len(after_id) > limits.IDENTIFIER_CHARS_MAX or "\x00" in after_id:
        raise InvalidError(code=Code.REQUEST_INVALID, message=f"after_id is an id of at most {limits.IDENTIFIER_CHARS_MAX} characters")
    return after_id


def _value(choice: StrEnum | None) -> str | None:
    return choice.value if choice is not None else None


def _stored_id(value: int, name: str) -> int:
    """``value`` when it may be the id of a stored record (or a cursor below one); else INVALID, never a database fault."""
    if not 0 <= value <= limits.STORED_ID_MAX:
        raise InvalidError(code=Code.REQUEST_INVALID, message=f"{name} is 0 to {limits.STORED_ID_MAX}, not {value}")
    return value


def _master_data_file(path: Path) -> MasterDataDocument:
    try:
        return MasterDataDocument.model_validate(read_document(path))
    except pydantic.ValidationError as error:
        raise invalid_input(error, code=Code.MASTER_DATA_INVALID, what="the master data file", source=str(path)) from error
