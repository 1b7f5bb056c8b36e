"""The demo's synthetic world: subscribers and a month of their usage, made from a seed.

Deterministic: the same seed and counts give the same master data and the same
chargeable items, in the same order. No clock and no I/O; the consumption dates
lie in May 2026. The world is priced by ``examples/catalog.yaml``.

About 70% of the subscribers are prepaid (with balances from 1 to 50 EUR) and
30% postpaid (with credit limits, a few none); a few are blocked or closed and a
few contracts end during the month, so that the demo meets refusals as a real
network would: unknown numbers, barred premium calls, empty balances.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from kopek.admin.master_data import MasterDataDocument
from kopek.domain.item import ChargeableItem

SERVICE_ID: Final = "mobile"
CURRENCY: Final = "EUR"
PREPAID_PLAN: Final = "prepaid_classic"
POSTPAID_PLAN: Final = "postpaid_smart"
CONTRACTS_START: Final = datetime(2026, 1, 1, tzinfo=UTC)
MONTH_START: Final = datetime(2026, 5, 1, tzinfo=UTC)
MONTH_SECONDS: Final = 31 * 24 * 3600

PREPAID_SHARE: Final = 0.70
BLOCKED_SHARE: Final = 0.02
CLOSED_SHARE: Final = 0.01
EXPIRING_CONTRACT_SHARE: Final = 0.03
UNKNOWN_USER_SHARE: Final = 0.01

PREPAID_BALANCES: Final = (("1.00", 1), ("2.50", 2), ("5.00", 4), ("10.00", 5), ("15.00", 3), ("20.00", 4), ("30.00", 2), ("50.00", 1))
POSTPAID_CREDIT_LIMITS: Final = (("5.00", 1), ("30.00", 3), ("60.00", 4), ("150.00", 4), ("300.00", 2), (None, 1))

EU_PREFIXES: Final = ("30", "31", "32", "34", "351", "352", "353", "39", "40", "43", "45", "46", "48", "49")
WORLD_PREFIXES: Final = ("1", "7", "44", "55", "61", "81", "86", "212", "216", "221")
VOICE_ZONES: Final = (("national_mobile", 40), ("national_fixed", 25), ("eu", 15), ("international", 14), ("premium", 3))
SMS_ZONES: Final = (("national", 80), ("eu", 12), ("international", 8))
ITEM_KINDS: Final = (("voice_call", 55), ("sms", 25), ("data_session", 20))


@dataclass(frozen=True, slots=True)
class DemoWorld:
    master_data: MasterDataDocument
    items: tuple[ChargeableItem, ...]
    prepaid_account_ids: tuple[str, ...]
    postpaid_account_ids: tuple[str, ...]
    opening_prepaid_total: Decimal


def build_world(*, subscribers: int, items: int, seed: int) -> DemoWorld:
    """``subscribers`` subscribers and ``items`` chargeable items in consumption order, from ``seed``."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible demo, not a secret
    records = [_subscriber(rng, index) for index in range(subscribers)]
    document = MasterDataDocument.model_validate(
        {
            "subscriber_accounts": [record["subscriber_account"] for record in records],
            "contracts": [record["contract"] for record in records],
            "accesses": [record["access"] for record in records],
        }
    )
    activity = list(itertools.accumulate(rng.lognormvariate(0, 0.8) for _ in records))
    numbers = [record["access"]["user_id"] for record in records]
    usage = tuple(_items(rng, numbers, activity, items))
    prepaid = [account for record in records for account in record["subscriber_account"]["accounts"] if account["kind"] == "prepaid"]
    postpaid = [account for record in records for account in record["subscriber_account"]["accounts"] if account["kind"] == "postpaid"]
    return DemoWorld(
        master_data=document,
        items=usage,
        prepaid_account_ids=tuple(account["id"] for account in prepaid),
        postpaid_account_ids=tuple(account["id"] for account in postpaid),
        opening_prepaid_total=sum((Decimal(account["initial_balance"]) for account in prepaid), Decimal(0)),
    )


def _pick(rng: random.Random, weighted: tuple[tuple[Any, int], ...]) -> Any:
    return rng.choices([value for value, _ in weighted], weights=[weight for _, weight in weighted])[0]


def _subscriber(rng: random.Random, index: int) -> dict[str, Any]:
    holder = f"sub-{index + 1:05d}"
    prepaid = rng.random() < PREPAID_SHARE
    draw = rng.random()
    status = "blocked" if draw < BLOCKED_SHARE else "closed" if draw < BLOCKED_SHARE + CLOSED_SHARE else "active"
    if prepaid:
        account = {"id": f"{holder}-prepaid", "kind": "prepaid", "initial_balance": _pick(rng, PREPAID_BALANCES)}
    else:
        account = {"id": f"{holder}-postpaid", "kind": "postpaid", "credit_limit": _pick(rng, POSTPAID_CREDIT_LIMITS)}
    valid_to = None
    if rng.random() < EXPIRING_CONTRACT_SHARE:
        valid_to = (MONTH_START + timedelta(days=rng.randint(3, 25))).isoformat()
    contract_id = f"{holder}-mobile"
    number = f"336{index + 1:08d}"
    return {
        "subscriber_account": {
            "id": holder,
            "currency": CURRENCY,
            "status": status,
            "name": f"Subscriber {index + 1}",
            "accounts": [account],
        },
        "contract": {
            "id": contract_id,
            "subscriber_account_id": holder,
            "valid_from": CONTRACTS_START.isoformat(),
            "valid_to": valid_to,
            "items": [{"id": "plan", "charge_plan": PREPAID_PLAN if prepaid else POSTPAID_PLAN}],
            "roles": {account["kind"]: account["id"]},
        },
        "access": {"service_id": SERVICE_ID, "user_id": number, "contract_id": contract_id, "valid_from": CONTRACTS_START.isoformat()},
    }


def _items(rng: random.Random, numbers: list[str], activity: list[float], count: int) -> list[ChargeableItem]:
    offsets = sorted(rng.randrange(MONTH_SECONDS) for _ in range(count))
    users = rng.choices(numbers, cum_weights=activity, k=count) if numbers else []
    items = []
    for offset, user in zip(offsets, users, strict=True):
        if rng.random() < UNKNOWN_USER_SHARE:
            user = f"337{rng.randrange(10**8):08d}"  # No demo subscriber has a 337 number.
        at = MONTH_START + timedelta(seconds=offset)
        kind = _pick(rng, ITEM_KINDS)
        items.append(ChargeableItem(kind, at, SERVICE_ID, user, _properties(rng, kind)))
    return items


def _properties(rng: random.Random, kind: str) -> dict[str, object]:
    if kind == "voice_call":
        return {"duration": str(_duration_seconds(rng)), "destination": _voice_destination(rng)}
    if kind == "sms":
        zone = _pick(rng, SMS_ZONES)
        return {"zone": zone, "destination": _number(rng, {"national": "national_mobile"}.get(zone, zone))}
    # Data sessions from 30 kB to 500 MB, evenly spread on a log scale.
    return {"volume": str(int(10 ** rng.uniform(4.5, 8.7)))}


def _duration_seconds(rng: random.Random) -> int:
    if rng.random() < 0.08:
        return rng.randint(0, 9)  # Unanswered or cut short.
    return min(int(rng.expovariate(1 / 140)) + 1, 3600)


def _voice_destination(rng: random.Random) -> str:
    return _number(rng, _pick(rng, VOICE_ZONES))


def _number(rng: random.Random, zone: str) -> str:
    if zone == "national_mobile":
        return rng.choice(("336", "337")) + f"{rng.randrange(10**8):08d}"
    if zone == "national_fixed":
        return "33" + rng.choice("123459") + f"{rng.randrange(10**8):08d}"
    if zone == "premium":
        return "3389" + f"{rng.randrange(10**7):07d}"
    if zone == "eu":
        return rng.choice(EU_PREFIXES) + f"{rng.randrange(10**9):09d}"
    return rng.choice(WORLD_PREFIXES) + f"{rng.randrange(10**9):09d}"
