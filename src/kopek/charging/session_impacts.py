"""A session's impacts: what its charges moved, by counter scope and by balance, and its charged items."""

from __future__ import annotations

import decimal
from collections.abc import Iterable
from decimal import Decimal

from kopek.charging.results import ChargeResult
from kopek.charging.session_views import BalanceImpact, CounterImpact, SessionChargedItem, SessionImpacts
from kopek.domain.catalog import CounterScope
from kopek.money import Exact, rating_context
from kopek.rating.outcome import CounterChange, CounterKey


def merged_impacts(impacts: SessionImpacts, charge: ChargeResult, changes: Iterable[CounterChange]) -> SessionImpacts:
    """``impacts`` plus one charge of the session: counter deltas and balance changes added up, charged items appended."""
    with decimal.localcontext(rating_context()):
        counters = {(c.scope, c.namespace or "", c.contract_id, c.contract_item_id or "", c.counter): c for c in impacts.counters}
        for change in changes:
            key = (change.key.scope.value, change.key.namespace, change.key.contract_id, change.key.item_id, change.key.name)
            known = counters.get(key)
            delta = change.delta + (known.delta if known is not None else 0)
            counters[key] = CounterImpact(
                scope=change.key.scope.value,
                contract_id=change.key.contract_id,
                contract_item_id=change.key.item_id or None,
                namespace=change.key.namespace or None,
                counter=change.key.name,
                unit=change.unit.value,
                delta=delta,
            )
        balances = {b.account_id: b for b in impacts.balances}
        for operation in charge.account_operations or []:
            known_balance = balances.get(operation.account_id)
            amount = operation.amount + (known_balance.amount if known_balance is not None else Decimal(0))
            balances[operation.account_id] = BalanceImpact(account_id=operation.account_id, amount=amount, currency=operation.currency)
    items = [SessionChargedItem(operation_id=charge.operation_id, **line.model_dump()) for line in charge.charged_items or []]
    return SessionImpacts(
        counters=[counters[key] for key in sorted(counters)],
        balances=[balances[key] for key in sorted(balances)],
        held_counters=list(impacts.held_counters),
        charged_items=[*impacts.charged_items, *items],
    )


def held_impacts(changes: Iterable[CounterChange]) -> list[CounterImpact]:
    """The counter moves the current grant holds (e.g. free units it was priced with)."""
    return [
        CounterImpact(
            scope=change.key.scope.value,
            contract_id=change.key.contract_id,
            contract_item_id=change.key.item_id or None,
            namespace=change.key.namespace or None,
            counter=change.key.name,
            unit=change.unit.value,
            delta=change.delta,
        )
        for change in changes
    ]


def session_moves(impacts: SessionImpacts) -> dict[CounterKey, Exact]:
    """How much the session's charges moved its transient counters, which live as long as the session."""
    return {
        CounterKey(impact.contract_id, impact.contract_item_id or "", impact.counter, CounterScope.TRANSIENT): impact.delta
        for impact in impacts.counters
        if impact.scope == CounterScope.TRANSIENT.value
    }
