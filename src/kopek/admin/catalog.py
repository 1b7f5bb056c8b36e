"""Catalog administration: validate a catalog file, load it as a new version, serve the current one."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from kopek import limits
from kopek.domain.catalog import Catalog
from kopek.domain.catalog_diff import ChangeKind, catalog_changes
from kopek.domain.catalog_load import catalog_from_document
from kopek.errors import Code, DoesNotExistError, ErrorDetail, IncompatibleConfigurationError
from kopek.store.catalog_cache import CatalogVersion
from kopek.store.uow import UnitOfWork


class CatalogVersionSummary(BaseModel):
    """A stored catalog version: when it was loaded and from what."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"version": 1, "loaded_at": "2026-06-01T12:00:00Z", "source": "request"}]}, frozen=True
    )

    version: int = Field(description="The version, from 1; charging uses the newest.")
    loaded_at: datetime = Field(description="When it was loaded.")
    source: str = Field(description="The file it was loaded from, or 'request' for a catalog sent over HTTP or Python.")


class CatalogChangeView(BaseModel):
    """One difference between two catalog versions (see :mod:`kopek.domain.catalog_diff`)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"kind": "changed", "path": "charge_plans[mobile@1].charges[sms].price.amount", "before": "0.10", "after": "0.12"}]
        },
        frozen=True,
    )

    kind: ChangeKind = Field(description="added, removed or changed.")
    path: str = Field(description="Where in the catalog, e.g. charge_plans[prepaid_classic@1].charges[sms].price.cases.national.amount.")
    before: Any = Field(description="The value in the older version; null when added.")
    after: Any = Field(description="The value in the newer version; null when removed.")


class CatalogDiff(BaseModel):
    """What changed from one catalog version to another, in a form people read."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "from_version": 1,
                    "to_version": 2,
                    "changes": [
                        {"kind": "changed", "path": "charge_plans[mobile@1].charges[sms].price.amount", "before": "0.10", "after": "0.12"}
                    ],
                    "changes_total": 1,
                }
            ]
        },
        frozen=True,
    )

    from_version: int = Field(description="The version compared from.")
    to_version: int = Field(description="The version compared to.")
    changes: list[CatalogChangeView] = Field(
        description=f"The differences, in the order of the catalog's parts; at most {limits.CATALOG_DIFF_CHANGES_MAX}."
    )
    changes_total: int = Field(description="How many differences there are, whether all are listed or not.")


def catalog_diff(before: CatalogVersion, after: CatalogVersion) -> CatalogDiff:
    changes = catalog_changes(before.catalog, after.catalog)
    return CatalogDiff(
        from_version=before.version,
        to_version=after.version,
        changes=[
            CatalogChangeView(kind=change.kind, path=change.path, before=change.before, after=change.after)
            for change in changes[: limits.CATALOG_DIFF_CHANGES_MAX]
        ],
        changes_total=len(changes),
    )


def stored_version(uow: UnitOfWork, version: int) -> CatalogVersion:
    """Catalog version ``version`` as stored; DOES_NOT_EXIST when there is none."""
    document = uow.catalogs.document_or_none(version)
    if document is None:
        raise DoesNotExistError(code=Code.NOT_FOUND, message=f"catalog version {version} does not exist")
    return CatalogVersion(version, Catalog.model_validate(json.loads(document)), created=False)


def load_catalog(uow: UnitOfWork, document: Any, *, source: str, actor: str, at: Any) -> CatalogVersion:
    """Validate ``document`` and store it as the newest catalog version; audited.

    The same catalog as the newest version stores nothing and answers that version. A catalog
    that drops a charge plan, a counter or an item class the contracts still use is refused
    (``catalog_drops_what_contracts_use``): their next charges would fail.
    """
    catalog = catalog_from_document(document, source=source)
    text = json.dumps(catalog.model_dump(mode="json", by_alias=True), sort_keys=True)
    details: dict[str, Any] = {"source": source, "item_classes": len(catalog.item_classes), "charge_plans": len(catalog.charge_plans)}
    latest = uow.catalogs.latest_version()
    if latest is not None and uow.catalogs.document(latest) == text:
        uow.catalogs.audit(at=at, actor=actor, action="catalog.load", target=f"catalog/{latest}", details=details | {"unchanged": True})
        uow.commit()
        return CatalogVersion(latest, catalog, created=False)
    _require_kept_what_contracts_use(uow, catalog)
    version = uow.catalogs.insert(document=text, source=source, at=at)
    uow.catalogs.audit(at=at, actor=actor, action="catalog.load", target=f"catalog/{version}", details=details)
    uow.commit()
    return CatalogVersion(version, catalog)


def _require_kept_what_contracts_use(uow: UnitOfWork, catalog: Catalog) -> None:
    """Refuse ``catalog`` when it lacks a charge plan, counter or item class that contracts use, naming them."""
    shown = limits.CATALOG_CONFLICT_CONTRACTS_SHOWN_MAX
    declared_counters = {counter.name for plan in catalog.charge_plans for counter in plan.counters}
    dropped = [
        *(("charge_plans", plan, uow.catalogs.contracts_using_plan(plan, limit=shown))
          for plan in sorted(uow.catalogs.charge_plans_in_use()) if not catalog.charge_plan_versions(plan)),
        *(("counters", name, uow.catalogs.contracts_holding_counter(name, limit=shown))
          for name in sorted(uow.catalogs.counters_in_use() - declared_counters)),
        *(("item_classes", name, uow.catalogs.contracts_with_live_sessions_of(name, limit=shown))
          for name in sorted(uow.catalogs.item_classes_of_live_sessions()) if catalog.item_class(name) is None),
    ]  # fmt: skip
    if not dropped:
        return
    details = tuple(
        ErrorDetail(
            f"{_WHAT[kind]} {name!r} is used by contract(s) {', '.join(contracts)}", (kind, name), Code.CATALOG_DROPS_WHAT_CONTRACTS_USE
        )
        for kind, name, contracts in dropped
    )
    raise IncompatibleConfigurationError(
        code=Code.CATALOG_DROPS_WHAT_CONTRACTS_USE,
        message="the catalog drops what contracts use, so their next charges would fail: "
        + "; ".join(detail.message for detail in details),
        details=details,
    )


_WHAT = {"charge_plans": "charge plan", "counters": "counter", "item_classes": "item class (of a live session)"}
