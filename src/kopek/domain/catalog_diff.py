"""What changed between two catalog versions, as a list a person can read (pure).

Both catalogs are compared in the form ``kopek catalog show --json`` prints (defaults left out).
Lists of named things (item classes, charge plans, charges, counters, properties, fees, ...) are
compared by name, so a charge plan moved in its file is not a change; charge plans by name and
version (``prepaid_classic@2``). Other lists (tier bands, thresholds) are compared by position.
Each change has a path into the catalog, like
``charge_plans[prepaid_classic@1].charges[sms].price.cases.national.amount``, and the value
before and after (``None`` for what is added or removed).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kopek.domain.catalog import Catalog


class ChangeKind(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


@dataclass(frozen=True, slots=True)
class CatalogChange:
    """One difference: where, and the value before and after (``None`` on the side where it is absent)."""

    kind: ChangeKind
    path: str
    before: Any
    after: Any


def catalog_changes(before: Catalog, after: Catalog) -> list[CatalogChange]:
    """Every difference from ``before`` to ``after``, in the order of the catalog's parts."""
    return list(_changes(_shown(before), _shown(after), ""))


def _shown(catalog: Catalog) -> dict[str, Any]:
    shown: dict[str, Any] = catalog.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    return shown


def _changes(before: Any, after: Any, path: str) -> Iterator[CatalogChange]:
    if before == after:
        return
    if isinstance(before, dict) and isinstance(after, dict):
        for key in [*before, *(key for key in after if key not in before)]:
            yield from _pair(before.get(key), after.get(key), _key_path(path, str(key)), key in before, key in after)
        return
    if isinstance(before, list) and isinstance(after, list):
        keyed_before, keyed_after = _keyed(before, path), _keyed(after, path)
        if keyed_before is not None and keyed_after is not None:
            for key in [*keyed_before, *(key for key in keyed_after if key not in keyed_before)]:
                where = f"{path}[{key}]"
                yield from _pair(keyed_before.get(key), keyed_after.get(key), where, key in keyed_before, key in keyed_after)
            return
        for index in range(max(len(before), len(after))):
            yield from _pair(_at(before, index), _at(after, index), f"{path}[{index}]", index < len(before), index < len(after))
        return
    yield CatalogChange(ChangeKind.CHANGED, path, before, after)


def _pair(before: Any, after: Any, path: str, in_before: bool, in_after: bool) -> Iterator[CatalogChange]:
    if not in_before:
        yield CatalogChange(ChangeKind.ADDED, path, None, after)
    elif not in_after:
        yield CatalogChange(ChangeKind.REMOVED, path, before, None)
    else:
        yield from _changes(before, after, path)


def _keyed(values: list[Any], path: str) -> dict[str, Any] | None:
    """The elements of a list of named objects by name (charge plans by name and version); None when not all are named
    or two share a name: such a list is compared by position."""
    if not values:
        return {}
    if not all(isinstance(value, dict) and isinstance(value.get("name"), str) for value in values):
        return None
    versioned = path.endswith("charge_plans")
    keys = [f"{value['name']}@{value.get('version', 1)}" if versioned else value["name"] for value in values]
    if len(set(keys)) != len(keys):
        return None
    return dict(zip(keys, values, strict=True))


def _key_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _at(values: list[Any], index: int) -> Any:
    return values[index] if index < len(values) else None
