"""The benchmark's world: a realistic mobile catalog, many prepaid subscribers, a mix of usage.

The catalog exercises the nodes a real tariff combines: a roaming switch, an allowance
in front of a destination prefix table (about thirty zones, each a per-minute then
per-second tier or a connect fee), barred premium numbers, SMS from a free bundle, and
data in graduated tiers on a monthly volume counter. As in real traffic, a few calls
dial a barred prefix and are refused (the tables' ``refused`` column).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from kopek import ChargeableItem, MasterDataDocument

START = datetime(2026, 1, 1, tzinfo=UTC)
FIRST_USE = datetime(2026, 6, 1, tzinfo=UTC)
SERVICE = "mobile"
OPENING_BALANCE = "1000000.00"

#: Destination zones: (prefix, price per minute for the first minute, then per second).
ZONES = [
    ("33", "0.60", "0.010"),
    ("336", "0.80", "0.012"),
    ("337", "0.80", "0.012"),
    ("44", "1.20", "0.020"),
    ("447", "1.50", "0.025"),
    ("49", "1.10", "0.018"),
    ("4915", "1.40", "0.022"),
    ("34", "1.00", "0.016"),
    ("39", "1.00", "0.016"),
    ("41", "1.60", "0.026"),
    ("43", "1.20", "0.020"),
    ("31", "1.00", "0.016"),
    ("32", "1.00", "0.016"),
    ("351", "1.10", "0.018"),
    ("353", "1.20", "0.020"),
    ("45", "1.30", "0.021"),
    ("46", "1.30", "0.021"),
    ("47", "1.40", "0.023"),
    ("48", "1.10", "0.018"),
    ("420", "1.10", "0.018"),
    ("1", "2.00", "0.033"),
    ("1212", "1.80", "0.030"),
    ("61", "3.00", "0.050"),
    ("81", "3.20", "0.053"),
    ("86", "2.50", "0.042"),
    ("91", "2.20", "0.037"),
    ("7", "2.80", "0.047"),
    ("55", "2.90", "0.048"),
]
BARRED = ("3389", "0900")


def _zone_price(per_minute: str, per_second: str) -> dict[str, Any]:
    return {
        "type": "connect_fee",
        "amount": "0.05",
        "then": {
            "type": "tiers",
            "mode": "graduated",
            "unit": "seconds",
            "bands": [
                {"up_to": 60, "price": {"type": "rate", "amount": per_minute, "unit": "minutes", "increment": 1}},
                {"price": {"type": "rate", "amount": per_second, "unit": "seconds"}},
            ],
        },
    }


def catalog_document(*, monthly: bool = True) -> dict[str, Any]:
    """The bench world's catalog; ``monthly=False`` keeps its bundles from ever resetting (the tariff the hand-written
    rater of the rating core's measure implements: it keeps no periods)."""
    prefixes: dict[str, Any] = {prefix: _zone_price(minute, second) for prefix, minute, second in ZONES}
    prefixes.update({prefix: {"type": "no_access", "message": "premium numbers are barred"} for prefix in BARRED})
    return {
        "item_classes": [
            {
                "name": "voice_call",
                "quantity": "duration",
                "properties": [
                    {"name": "duration", "type": "decimal", "unit": "seconds"},
                    {"name": "destination", "type": "string"},
                    {"name": "roaming", "type": "boolean", "default": False},
                ],
            },
            {
                "name": "sms",
                "quantity": "messages",
                "properties": [
                    {"name": "messages", "type": "integer", "unit": "events", "default": 1},
                    {"name": "destination", "type": "string"},
                    {"name": "roaming", "type": "boolean", "default": False},
                ],
            },
            {
                "name": "data_session",
                "quantity": "volume",
                "properties": [
                    {"name": "volume", "type": "integer", "unit": "bytes"},
                    {"name": "rating_group", "type": "integer", "default": 10},
                ],
            },
        ],
        "charge_plans": [
            {
                "name": "bench_mobile",
                "currency": "EUR",
                "counters": _counters(monthly),
                "charges": [
                    {
                        "name": "voice",
                        "item_class": "voice_call",
                        "account_role": "payer",
                        "output": "both",
                        "rounding": {"decimals": 2, "mode": "half_up"},
                        "price": {
                            "type": "switch",
                            "property": "roaming",
                            "cases": {"true": _zone_price("1.90", "0.032")},
                            "default": {
                                "type": "allowance",
                                "counter": "free_seconds",
                                "then": {
                                    "type": "prefix",
                                    "property": "destination",
                                    "prefixes": prefixes,
                                    "default": _zone_price("3.50", "0.058"),
                                },
                            },
                        },
                    },
                    {
                        "name": "sms",
                        "item_class": "sms",
                        "account_role": "payer",
                        "price": {
                            "type": "allowance",
                            "counter": "free_sms",
                            "then": {
                                "type": "prefix",
                                "property": "destination",
                                "prefixes": {"33": {"type": "flat", "amount": "0.10"}, "44": {"type": "flat", "amount": "0.15"}},
                                "default": {"type": "flat", "amount": "0.25"},
                            },
                        },
                    },
                    {
                        "name": "data",
                        "item_class": "data_session",
                        "account_role": "payer",
                        "rounding": {"decimals": 4, "mode": "half_even"},
                        "counter_updates": [{"counter": "data_used", "add": "quantity"}],
                        "price": {
                            "type": "tiers",
                            "mode": "graduated",
                            "counter": "data_used",
                            "unit": "megabytes",
                            "bands": [
                                {"up_to": 1000, "price": {"type": "rate", "amount": "0.01", "unit": "megabytes"}},
                                {"up_to": 5000, "price": {"type": "rate", "amount": "0.005", "unit": "megabytes"}},
                                {"price": {"type": "rate", "amount": "0.002", "unit": "megabytes"}},
                            ],
                        },
                    },
                ],
            }
        ],
    }


def subscriber(index: int) -> str:
    return f"sub-{index:05d}"


def user(index: int) -> str:
    return f"msisdn-{index:05d}"


def master_data(subscribers: int) -> MasterDataDocument:
    """``subscribers`` prepaid subscribers with a large balance, one contract and one access each."""
    return MasterDataDocument.model_validate(
        {
            "subscriber_accounts": [
                {
                    "id": subscriber(index),
                    "currency": "EUR",
                    "accounts": [{"id": f"{subscriber(index)}-prepaid", "kind": "prepaid", "initial_balance": OPENING_BALANCE}],
                }
                for index in range(subscribers)
            ],
            "contracts": [
                {
                    "id": f"{subscriber(index)}-contract",
                    "subscriber_account_id": subscriber(index),
                    "valid_from": START.isoformat(),
                    "items": [{"id": "main", "charge_plan": "bench_mobile"}],
                    "roles": {"payer": f"{subscriber(index)}-prepaid"},
                }
                for index in range(subscribers)
            ],
            "accesses": [
                {
                    "service_id": SERVICE,
                    "user_id": user(index),
                    "contract_id": f"{subscriber(index)}-contract",
                    "valid_from": START.isoformat(),
                }
                for index in range(subscribers)
            ],
        }
    )


def usage(users: list[int], *, seed: int) -> Iterator[ChargeableItem]:
    """An endless, reproducible mix: 60 % voice (2 % roaming), 25 % SMS, 15 % data, round robin over ``users``."""
    pick = random.Random(seed)
    destinations = [prefix for prefix, _, _ in ZONES] + ["999"]
    moment = FIRST_USE
    turn = 0
    while True:
        who = user(users[turn % len(users)])
        turn += 1
        moment += timedelta(seconds=pick.randint(1, 30))
        number = pick.choice(destinations) + str(pick.randint(1_000_000, 9_999_999))
        kind = pick.random()
        if kind < 0.60:
            properties: dict[str, object] = {"duration": str(pick.randint(1, 900)), "destination": number}
            if pick.random() < 0.02:
                properties["roaming"] = True
            yield ChargeableItem("voice_call", moment, SERVICE, who, properties)
        elif kind < 0.85:
            yield ChargeableItem("sms", moment, SERVICE, who, {"destination": number})
        else:
            yield ChargeableItem("data_session", moment, SERVICE, who, {"volume": pick.randint(10_000, 80_000_000)})


def _counters(monthly: bool) -> list[dict[str, Any]]:
    """The plan's counters: the month's bundles, reset on the first of each month in Paris as a real tariff's, with a
    threshold each on the free seconds and the data used; without ``monthly``, bundles that never reset."""
    counters: list[dict[str, Any]] = [
        {"name": "free_seconds", "unit": "seconds", "initial": 3000},
        {"name": "free_sms", "unit": "events", "initial": 50},
        {"name": "data_used", "unit": "megabytes"},
    ]
    if not monthly:
        return counters
    thresholds = {"free_seconds": [{"value": 300, "direction": "down"}], "data_used": [{"value": 1000, "direction": "up"}]}
    resetting = [counter | {"reset": "monthly", "time_zone": "Europe/Paris"} for counter in counters]
    return [counter | ({"thresholds": thresholds[counter["name"]]} if counter["name"] in thresholds else {}) for counter in resetting]
