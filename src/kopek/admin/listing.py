"""Finding and listing: pages of subscriber accounts, contracts, accesses, CDRs, rating jobs and catalog versions,
each as the views their reads answer (see :mod:`kopek.store.listing_store` for the filters and the paging)."""

from __future__ import annotations

from kopek.admin.catalog import CatalogVersionSummary
from kopek.admin.views import AccessView, ContractSummary, SubscriberAccountView, access_view, contract_summary, subscriber_account_views
from kopek.batch.cdr_views import CdrView, cdr_view
from kopek.batch.rating_jobs import RatingJobSummary, job_summary
from kopek.domain.master import Access, ContractId
from kopek.store.listing_store import AccessFilter, CdrFilter, ContractFilter, ListingStore, SubscriberAccountFilter
from kopek.store.uow import UnitOfWork


def subscriber_account_page(uow: UnitOfWork, chosen: SubscriberAccountFilter, *, after: str, limit: int) -> list[SubscriberAccountView]:
    return subscriber_account_views(uow, ListingStore(uow.connection).subscriber_account_ids(chosen, after=after, limit=limit))


def contract_page(uow: UnitOfWork, chosen: ContractFilter, *, after: str, limit: int) -> list[ContractSummary]:
    ids = ListingStore(uow.connection).contract_ids(chosen, after=after, limit=limit)
    found = uow.master.contracts(ids)
    return [contract_summary(found[contract_id]) for contract_id in ids if contract_id in found]


def access_page(uow: UnitOfWork, chosen: AccessFilter, *, after: int, limit: int) -> list[AccessView]:
    rows = ListingStore(uow.connection).access_rows(chosen, after=after, limit=limit)
    return [
        access_view(
            Access(row["service_id"], row["user_id"], ContractId(row["contract_id"]), row["valid_from"], row["valid_to"], row["id"])
        )
        for row in rows
    ]


def cdr_page(uow: UnitOfWork, chosen: CdrFilter, *, after: str, limit: int) -> list[CdrView]:
    return [cdr_view(row) for row in ListingStore(uow.connection).cdr_rows(chosen, after=after, limit=limit)]


def rating_job_page(uow: UnitOfWork, *, state: str | None, after: str, limit: int) -> list[RatingJobSummary]:
    return [job_summary(row) for row in ListingStore(uow.connection).rating_job_rows(state=state, after=after, limit=limit)]


def catalog_version_page(uow: UnitOfWork, *, after: int, limit: int) -> list[CatalogVersionSummary]:
    return [CatalogVersionSummary.model_validate(row) for row in ListingStore(uow.connection).catalog_versions(after=after, limit=limit)]
