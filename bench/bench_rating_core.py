"""``rating_core``: items per second of ``rate_item`` against a hand-written rater of the same tariff.

Two tariffs: the bench world (:mod:`bench.world`) and ``examples/catalog.yaml``. For each,
items are typed once up front; then rounds alternate between kopek and the hand-written
rater of :mod:`bench.rating_baseline`, each round pricing every item in order from fresh
counters (kopek's loop feeds each outcome's counter changes back into the contract's
state, as the engine does between two charges). The figure of each side is the median of
its rounds, so both run under the same load. Before timing, one untimed pass checks that
both give the same amount for every charge of every item and refuse the same items.

Rounds are timed in CPU time of this process (``time.process_time``), the same clock for both
sides: the machines the benchmark runs on are shared, and wall time would count the other
processes' turns on the processor as rating time.
"""

from __future__ import annotations

import itertools
import random
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.measure import Measure
from bench.rating_baseline import Amounts, BenchWorldRater, ExampleCatalogRater
from bench.world import START, catalog_document, usage
from kopek.documents import read_document
from kopek.domain.catalog import Catalog
from kopek.domain.catalog_load import catalog_from_document
from kopek.domain.item import ChargeableItem, TypedItem, type_item
from kopek.domain.master import AccountId, Contract, ContractId, ContractItem, ContractItemId, SubscriberAccountId
from kopek.domain.outcome import ChargedItem
from kopek.errors import KopekError
from kopek.rating.rate import CounterLife, RatingState, rate_item

TARGET_RATIO = 0.5
"""kopek's ``rate_item`` should price at least half as many items per second as the hand-written rater."""
CONTRACTS = 16
EXAMPLE_CATALOG = Path(__file__).resolve().parent.parent / "examples" / "catalog.yaml"


@dataclass(frozen=True, slots=True)
class Tariff:
    """A catalog, its contracts, typed items (each with its contract) and a factory of hand-written raters."""

    name: str
    catalog: Catalog
    items: list[tuple[Contract, TypedItem]]
    baseline: Callable[[], Callable[[str, TypedItem], Amounts]]


def _contract(index: int, plan: str) -> Contract:
    return Contract(
        id=ContractId(f"sub-{index:05d}-contract"),
        subscriber_account_id=SubscriberAccountId(f"sub-{index:05d}"),
        valid_from=START,
        items=(ContractItem(ContractItemId("main"), plan),),
        roles={"payer": AccountId(f"sub-{index:05d}-account"), "prepaid": AccountId("p"), "postpaid": AccountId("q")},
    )


def _typed(catalog: Catalog, contracts: Sequence[Contract], raw: Sequence[ChargeableItem]) -> list[tuple[Contract, TypedItem]]:
    typed = []
    for position, item in enumerate(raw):
        item_class = catalog.item_class(item.item_class)
        assert item_class is not None
        typed.append((contracts[position % len(contracts)], type_item(item_class, item)))
    return typed


def bench_world(items: int) -> Tariff:
    catalog = catalog_from_document(catalog_document(monthly=False), source="bench")
    contracts = [_contract(index, "bench_mobile") for index in range(CONTRACTS)]
    raw = list(itertools.islice(usage(list(range(CONTRACTS)), seed=1), items))
    return Tariff("bench world", catalog, _typed(catalog, contracts, raw), lambda: BenchWorldRater().rate)


EXAMPLE_DESTINATIONS = ("33", "336", "337", "3389", "31", "34", "351", "49", "44", "1", "81")


def _example_usage(seed: int) -> Iterator[ChargeableItem]:
    """Calls (60 %) to national, EU, world and barred numbers, SMS by zone (25 %), data sessions (15 %),
    over the turn of a month in Paris so that the monthly counters reset on the way."""
    pick = random.Random(seed)
    moment = datetime(2026, 5, 31, 12, 0, tzinfo=UTC)
    while True:
        moment += timedelta(seconds=pick.randint(1, 12))
        kind = pick.random()
        if kind < 0.60:
            number = pick.choice(EXAMPLE_DESTINATIONS) + str(pick.randint(1_000_000, 9_999_999))
            yield ChargeableItem("voice_call", moment, "mobile", "-", {"duration": str(pick.randint(1, 600)), "destination": number})
        elif kind < 0.85:
            yield ChargeableItem("sms", moment, "mobile", "-", {"zone": pick.choice(("national", "eu", "international"))})
        else:
            yield ChargeableItem("data_session", moment, "mobile", "-", {"volume": pick.randint(10_000, 80_000_000)})


def example_catalog(items: int) -> Tariff:
    catalog = catalog_from_document(read_document(EXAMPLE_CATALOG), source=EXAMPLE_CATALOG.name)
    plans = ("prepaid_classic", "postpaid_smart")
    contracts = [_contract(index, plans[index % 2]) for index in range(CONTRACTS)]
    raw = list(itertools.islice(_example_usage(seed=1), items))
    plan_of = {contract.id: contract.items[0].charge_plan for contract in contracts}
    return Tariff("examples/catalog.yaml", catalog, _typed(catalog, contracts, raw), lambda: ExampleCatalogRater(plan_of).rate)


def kopek_rater(catalog: Catalog) -> Callable[[Contract, TypedItem], tuple[ChargedItem, ...] | None]:
    """``rate_item`` with the counters of each contract fed back, as the engine stores them between charges: each
    changed value, and its period when it has one. It gives the charged items of each item (none: refused), as the
    hand-written rater gives its amounts; :func:`amounts` reads theirs for the comparison, untimed."""
    states: dict[str, tuple[dict[Any, Any], dict[Any, Any]]] = {}

    def rate(contract: Contract, item: TypedItem) -> tuple[ChargedItem, ...] | None:
        stored = states.get(contract.id)
        if stored is None:
            stored = states[contract.id] = ({}, {})
        values, periods = stored
        try:
            outcome = rate_item(catalog, RatingState(contract, values, periods), item)
        except KopekError:
            return None
        for change in outcome.counter_changes:
            values[change.key] = change.after
            if change.period_start is not None or change.expires_at is not None:
                periods[change.key] = CounterLife(change.period_start, change.expires_at)
            else:
                periods.pop(change.key, None)
        return outcome.charged_items

    return rate


def amounts(charged: tuple[ChargedItem, ...] | None) -> Amounts:
    """The amount of each charge kopek applied to an item, as the hand-written rater gives them."""
    return tuple(item.amount for item in charged) if charged is not None else None


def same_outputs(tariff: Tariff) -> str | None:
    """Where kopek and the hand-written rater disagree (the first item), or None."""
    kopek, baseline = kopek_rater(tariff.catalog), tariff.baseline()
    for position, (contract, item) in enumerate(tariff.items):
        ours, theirs = amounts(kopek(contract, item)), baseline(contract.id, item)
        if ours != theirs:
            return f"item {position} ({item.item_class.name} {dict(item.properties)}): kopek {ours}, hand-written {theirs}"
    return None


def _kopek_round(tariff: Tariff) -> float:
    rate = kopek_rater(tariff.catalog)
    started = time.process_time()
    for contract, item in tariff.items:
        rate(contract, item)
    return len(tariff.items) / (time.process_time() - started)


def _baseline_round(tariff: Tariff) -> float:
    rate = tariff.baseline()
    started = time.process_time()
    for contract, item in tariff.items:
        rate(contract.id, item)
    return len(tariff.items) / (time.process_time() - started)


def measure(tariff: Tariff, *, rounds: int) -> Measure:
    """Interleaved rounds of both raters over ``tariff``'s items; the medians of items per second and their ratio."""
    disagreement = same_outputs(tariff)
    if disagreement is not None:
        raise AssertionError(f"{tariff.name}: {disagreement}")
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(rounds):
        ours.append(_kopek_round(tariff))
        theirs.append(_baseline_round(tariff))
    kopek, baseline = statistics.median(ours), statistics.median(theirs)
    return Measure(f"rating_core: rate_item, {tariff.name}", "items/s", kopek, baseline, TARGET_RATIO)


def run(items: int, *, rounds: int = 7) -> list[Measure]:
    """One measure per tariff: the bench world, then ``examples/catalog.yaml``."""
    return [measure(bench_world(items), rounds=rounds), measure(example_catalog(items), rounds=rounds)]


def worse(measures: list[Measure]) -> Measure:
    """The ``rating_core`` measure: the tariff with the lower ratio, under the plain name."""
    lowest = min(measures, key=lambda measure: measure.ratio or 0.0)
    return Measure("rating_core", lowest.unit, lowest.kopek, lowest.baseline, lowest.target)
