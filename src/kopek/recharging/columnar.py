"""A recharge's items priced column-wise: the vectorized path of batch rating, from the restored counters.

For a contract whose plans the vectorized path accepts (the acceptance rules of a batch chunk,
:func:`kopek.batch.columnar_rating.price_columnar`), the items since the restoration point are
priced at once with Polars from the restored state, and give the same :class:`Replay` as
charging them one by one (:func:`kopek.recharging.recharge.replay_items`): the charged items of
each, the counters after all of them and the journal of their changes. The recharge then writes
the differences as it does for the row path. Anything the vectorized path does not express
(a refill's bonus units among the items, an item refused, a plan or counter it does not take)
raises :class:`NotColumnar` before anything is used, and the recharge takes the row path.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from kopek.batch.columnar_rating import FallbackReason, NotColumnar, PlanCache, price_columnar
from kopek.domain.catalog import Output
from kopek.domain.master import Contract
from kopek.domain.outcome import ChargedItem, CounterChange, CounterKey
from kopek.rating.columnar import ColumnarPlan
from kopek.rating.columnar_counters import counter_moves
from kopek.recharging.replay import Replay, apply_changes
from kopek.recharging.restoration import Replayed
from kopek.store.catalog_cache import CatalogVersion
from kopek.store.counter_journal_store import StoredValue
from kopek.store.uow import UnitOfWork

__all__ = ["NotColumnar", "replay_columnar"]


def replay_columnar(
    uow: UnitOfWork,
    catalog: CatalogVersion,
    plans: PlanCache,
    contract: Contract,
    restored: Mapping[CounterKey, StoredValue],
    operations: Sequence[Replayed],
) -> Replay:
    """Price ``operations`` (items only) column-wise from the ``restored`` counters; the :class:`Replay` the row path
    would give. Raises :class:`NotColumnar` when the row path is needed."""
    if not operations:
        raise NotColumnar(FallbackReason.UNPRICED_ITEM, "no item to price")
    if any(operation.item is None for operation in operations):
        raise NotColumnar(FallbackReason.CDR_INVALID, "a refill's bonus units come between the items")
    rows = [_row(contract, operation) for operation in operations]
    values = {key: row.value for key, row in restored.items()}
    lives = {key: row.life for key, row in restored.items()}
    priced = price_columnar(uow, catalog.catalog, catalog.version, plans, rows, values=values, lives=lives)
    frame = priced.frame
    if (frame["status"] != "charged").any():
        raise NotColumnar(FallbackReason.CDR_INVALID, "an item is refused")
    replay = Replay(counters=dict(restored))
    changes: dict[int, list[CounterChange]] = defaultdict(list)
    for row, change in counter_moves(frame, priced.counters).journal:
        changes[row].append(change)
    charges = {key: _charges(contract, program) for key, program in priced.compiled.items()}
    columns = {name: frame[name].to_list() for name in frame.columns if name[0] in "az" and name[1:].isdigit()}
    amounts: dict[tuple[int, bool, int], Decimal] = {}
    keys = zip(frame["plan"].to_list(), frame["item_class"].to_list(), strict=True)
    entries = zip(operations, priced.items, priced.pricing, keys, strict=True)
    for position, (operation, item, (contract_item_id, _), key) in enumerate(entries):
        found: list[tuple[ChargedItem, str]] = []
        for index, decimals, fields, payer in charges[key]:
            units, negative = columns[f"a{index}"][position], columns[f"z{index}"][position]
            amount = amounts.get((units, negative, decimals))
            if amount is None:
                amount = amounts[(units, negative, decimals)] = _amount(units, negative, decimals)
            plan, charge, role, currency, output = fields
            unit = item.item_class.quantity_unit
            found.append((ChargedItem(contract_item_id, plan, charge, role, amount, currency, item.quantity, unit, output), payer))
        apply_changes(replay, operation, changes.get(position, ()))
        replay.charged[operation.operation_id] = (item, found)
    return replay


def _charges(contract: Contract, program: ColumnarPlan) -> list[tuple[int, int, tuple[str, str, str, str, Output], str]]:
    """Per charge of ``program``: its column index, its rounding's decimals, the charged item's fields that are the
    charge's (plan, charge, account role, currency, output) and its payer."""
    found: list[tuple[int, int, tuple[str, str, str, str, Output], str]] = []
    for charge in program.charges:
        spec = charge.charge
        payer = contract.roles.get(spec.account_role)
        if payer is None:
            raise NotColumnar(
                FallbackReason.ACCOUNT_NOT_COLUMNAR, f"contract {contract.id!r} assigns no account to role {spec.account_role!r}"
            )
        fields = (program.plan.name, spec.name, spec.account_role, program.plan.currency, spec.output)
        found.append((charge.index, spec.rounding.decimals, fields, payer))
    return found


def _row(contract: Contract, operation: Replayed) -> dict[str, Any]:
    """A replayed item shaped as a stored CDR row, which the vectorized path reads."""
    item = operation.item
    assert item is not None, "only items are priced column-wise"
    return {
        "id": operation.operation_id,
        "contract_id": contract.id,
        "item_class": item["item_class"],
        "consumption_date": datetime.fromisoformat(item["consumption_date"]),
        "service_id": item["service_id"],
        "user_id": item["user_id"],
        "properties": item["properties"],
    }


def _amount(units: int, negative: bool, decimals: int) -> Decimal:
    """A rounded amount of whole ``10^-decimals``, as ``Decimal.quantize`` gives it (a negative amount rounded to zero
    keeps its sign)."""
    amount = Decimal(units).scaleb(-decimals)
    return amount.copy_negate() if negative and units == 0 else amount
