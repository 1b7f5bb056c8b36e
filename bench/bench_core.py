"""Pure-core throughput: ``rate_item`` on the benchmark catalog, no I/O at all.

Items are typed once up front; the loop rates them and feeds each outcome's counter
changes back into the contract state, as the engine would between two charges.
"""

from __future__ import annotations

import itertools
import time

from bench.measure import Row
from bench.world import START, catalog_document, usage
from kopek.domain.catalog_load import catalog_from_document
from kopek.domain.item import type_item
from kopek.domain.master import AccountId, Contract, ContractId, ContractItem, ContractItemId, SubscriberAccountId
from kopek.errors import KopekError
from kopek.rating.rate import RatingState, rate_item

CONTRACTS = 16


def run(items: int) -> Row:
    catalog = catalog_from_document(catalog_document(monthly=False), source="bench")
    contracts = [
        Contract(
            id=ContractId(f"sub-{index:05d}-contract"),
            subscriber_account_id=SubscriberAccountId(f"sub-{index:05d}"),
            valid_from=START,
            items=(ContractItem(ContractItemId("main"), "bench_mobile"),),
            roles={"payer": AccountId(f"sub-{index:05d}-prepaid")},
        )
        for index in range(CONTRACTS)
    ]
    raw = list(itertools.islice(usage(list(range(CONTRACTS)), seed=1), items))
    typed = []
    for position, item in enumerate(raw):
        item_class = catalog.item_class(item.item_class)
        assert item_class is not None
        typed.append((contracts[position % CONTRACTS], type_item(item_class, item)))
    counters: dict[str, dict] = {contract.id: {} for contract in contracts}

    latencies: list[float] = []
    refused = 0
    started = time.perf_counter()
    for contract, item in typed:
        began = time.perf_counter()
        try:
            outcome = rate_item(catalog, RatingState(contract, counters[contract.id]), item)
            counters[contract.id].update({change.key: change.after for change in outcome.counter_changes})
        except KopekError:
            refused += 1
        latencies.append(time.perf_counter() - began)
    seconds = time.perf_counter() - started
    return Row("core: rate_item", "none", 1, len(typed), seconds, latencies, refused, "pure function, counters fed back")
