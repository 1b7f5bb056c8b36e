"""A rating job on the vectorized path (``RatingPath.AUTO``) leaves exactly what the row path (``RatingPath.ROW``) leaves.

The same CDRs are imported into two fresh databases with the same world, a fixed clock
and sequential ids; one job runs with ``AUTO``, the other with ``ROW``, in the same mode.
Every CDR's status and error, its operation (with no stored result), charged items,
account operations and notifications, every balance and every counter must be equal, Decimals as values and
as text. Operation ids are blanked (a vectorized attempt that falls back may draw ids
the row path then draws again): rows are matched through the CDR id, the operation's
idempotency key.

The world: voice calls use a free-seconds allowance (reset monthly in Paris, with a
threshold), then are priced by destination
prefix (two zones priced alike with a connect fee and a first minute billed by the
minute, a per-second zone, barred premium numbers, a default with a minimum and an
increment), plus a roaming surcharge by switch; SMS in graduated tiers over a counter
of SMS sent (reset daily in Tokyo); data in graduated tiers over a counter of megabytes
used (reset weekly on Tuesdays in New York); each counter has thresholds. The counter
journal is compared too. alice is
prepaid, bob postpaid, carol and dave share one postpaid account (one partition with
two contracts; in some tests dave's contract is linked to carol's); erin's plan prices
calls by a schedule (peak hours, holidays) under an allowance of seconds that resets
monthly, and her prepaid account has a low-balance threshold, which SMS refunds take her
balance back above.

A second world (``FAMILY_CATALOG``) has counters of several contracts: a parent and its
linked child keep one data counter, the parent's, and four contracts share minutes and
SMS counters of one namespace.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kopek import AccessInput, ContractInput, Engine, KopekError, SubscriberAccountInput
from kopek.batch.rating_jobs import RatingMode, RatingPath
from kopek.documents import parse_document
from kopek.domain.item import ChargeableItem
from kopek.store.cdr_store import cdr_states
from kopek.store.job_scope import outcome_of
from kopek.store.schema import (
    account_operations,
    accounts,
    cdr_outcomes,
    cdrs,
    charged_items,
    charging_operations,
    counter_journal,
    counters,
    notifications,
    shared_counters,
)
from tests.fakes import FixedClock, SequentialIds
from tests.integration.test_batch_equivalence import fresh_database

LOGGER = "kopek.batch.partition_rating"
VECTORIZED = "on the vectorized path"
FALLBACK = "row path from here"

START = datetime(2026, 1, 1, tzinfo=UTC)


def catalog_yaml(*, free_seconds: int = 120) -> str:
    return f"""
calendars:
  - name: holidays
    dates: ["2026-03-29", "2026-07-14"]
item_classes:
  - name: voice_call
    quantity: duration
    properties:
      - {{name: duration, type: decimal, unit: seconds}}
      - {{name: destination, type: string}}
      - {{name: roaming, type: boolean, default: false}}
  - name: sms
    quantity: count
    properties:
      - {{name: count, type: integer, unit: events, default: 1}}
      - {{name: destination, type: string}}
  - name: data_session
    quantity: volume
    properties:
      - {{name: volume, type: integer, unit: bytes}}
charge_plans:
  - name: mobile
    currency: EUR
    counters:
      - name: free_seconds
        scope: contract_item
        unit: seconds
        initial: {free_seconds}
        reset: monthly
        time_zone: Europe/Paris
        thresholds: [{{value: 30, direction: down}}]
      - name: megabytes_used
        scope: contract
        unit: megabytes
        reset: weekly
        anchor_day: 2
        time_zone: America/New_York
        thresholds: [{{value: 100, direction: up}}, {{value: 150, direction: up}}]
      - name: sms_sent
        scope: contract_item
        unit: events
        reset: daily
        time_zone: Asia/Tokyo
        thresholds: [{{value: 2, direction: up}}]
    charges:
      - name: voice
        item_class: voice_call
        account_role: payer
        rounding: {{decimals: 2, mode: half_up}}
        output: both
        price:
          type: allowance
          counter: free_seconds
          then:
            type: prefix
            property: destination
            prefixes:
              "33":
                type: connect_fee
                amount: "0.05"
                then:
                  type: tiers
                  bands:
                    - {{up_to: 60, price: {{type: rate, amount: "0.60", unit: minutes, increment: 1}}}}
                    - price: {{type: rate, amount: "0.01", unit: seconds}}
              "34":
                type: connect_fee
                amount: "0.07"
                then:
                  type: tiers
                  bands:
                    - {{up_to: 60, price: {{type: rate, amount: "0.75", unit: minutes, increment: 1}}}}
                    - price: {{type: rate, amount: "0.0125", unit: seconds}}
              "44": {{type: rate, amount: "0.02", unit: seconds}}
              "999": {{type: no_access, message: premium numbers are barred}}
            default: {{type: rate, amount: "0.03", unit: seconds, minimum: 30, increment: 6}}
      - name: roaming
        item_class: voice_call
        account_role: payer
        rounding: {{decimals: 3, mode: half_even}}
        price:
          type: switch
          property: roaming
          cases:
            "true": {{type: rate, amount: "0.10", unit: minutes, increment: 0.5}}
          default: {{type: flat, amount: "0"}}
      - name: sms
        item_class: sms
        account_role: payer
        rounding: {{decimals: 3, mode: half_up}}
        price:
          type: tiers
          counter: sms_sent
          bands:
            - {{up_to: 2, price: {{type: flat, amount: "0"}}}}
            - price: {{type: flat, amount: "0.125"}}
        counter_updates:
          - {{counter: sms_sent, add: one}}
      - name: data
        item_class: data_session
        account_role: payer
        rounding: {{decimals: 4, mode: ceiling}}
        price:
          type: tiers
          counter: megabytes_used
          bands:
            - {{up_to: 100, price: {{type: rate, amount: "0.01", unit: megabytes}}}}
            - price: {{type: rate, amount: "0.005", unit: megabytes, per: 3}}
        counter_updates:
          - {{counter: megabytes_used, add: quantity}}
  - name: night
    currency: EUR
    counters:
      - name: night_seconds
        scope: contract
        unit: seconds
        initial: 100
        reset: monthly
        time_zone: Europe/Paris
        thresholds: [{{value: 20, direction: down}}]
    charges:
      - name: voice
        item_class: voice_call
        account_role: payer
        rounding: {{decimals: 2, mode: half_up}}
        price:
          type: allowance
          counter: night_seconds
          then:
            type: schedule
            time_zone: Europe/Paris
            calendar: holidays
            windows:
              - days: [mon, tue, wed, thu, fri]
                from: "08:00"
                to: "20:00"
                price: {{type: rate, amount: "0.60", unit: minutes, increment: 1}}
              - {{days: [holiday], price: {{type: flat, amount: "0.15"}}}}
            default: {{type: rate, amount: "0.30", unit: minutes}}
      - name: sms
        item_class: sms
        account_role: payer
        price:
          type: switch
          property: destination
          cases:
            refund: {{type: flat, amount: "-3.00"}}
          default: {{type: flat, amount: "0.10"}}
"""


# holder, subscriber account, account, kind, extra account fields, plan
HOLDERS: tuple[tuple[str, str, str, str, dict[str, str], str], ...] = (
    ("alice", "alice", "alice-prepaid", "prepaid", {}, "mobile"),
    ("bob", "bob", "bob-postpaid", "postpaid", {"credit_limit": "1000.00"}, "mobile"),
    ("carol", "family", "family-postpaid", "postpaid", {"credit_limit": "100000"}, "mobile"),
    ("dave", "family", "family-postpaid", "postpaid", {"credit_limit": "100000"}, "mobile"),
    ("erin", "erin", "erin-prepaid", "prepaid", {"initial_balance": "500.00", "low_balance_threshold": "496.00"}, "night"),
)


def build(engine: Engine, *, alice_balance: str = "100.00", free_seconds: int = 120, linked: bool = False) -> None:
    """Load the catalog and create the five contracts, each with one access ``HOLDER-msisdn``; with ``linked``, dave's
    contract is linked to carol's (his data counts on her ``megabytes_used``, a contract counter)."""
    engine.load_catalog(parse_document(catalog_yaml(free_seconds=free_seconds), source="columnar.yaml"))
    created: set[str] = set()
    for holder, subscriber, account, kind, extra, plan in HOLDERS:
        if subscriber not in created:
            fields = {"initial_balance": alice_balance} if holder == "alice" else extra
            engine.create_subscriber_account(
                SubscriberAccountInput.model_validate(
                    {"id": subscriber, "currency": "EUR", "accounts": [{"id": account, "kind": kind, **fields}]}
                )
            )
            created.add(subscriber)
        engine.create_contract(
            ContractInput.model_validate(
                {
                    "id": f"{holder}-contract",
                    "subscriber_account_id": subscriber,
                    "valid_from": START.isoformat(),
                    "items": [{"id": "main", "charge_plan": plan}],
                    "roles": {"payer": account},
                }
                | ({"parent_id": "carol-contract"} if linked and holder == "dave" else {})
            )
        )
        engine.create_access(
            AccessInput.model_validate(
                {
                    "service_id": "mobile",
                    "user_id": f"{holder}-msisdn",
                    "contract_id": f"{holder}-contract",
                    "valid_from": START.isoformat(),
                }
            )
        )


CLASSES = {"call": "voice_call", "sms": "sms", "data": "data_session"}

# id holder kind consumption date, then properties as name=value
PLAIN_CDRS = """
a01 alice call 2026-06-01T08:00:00+00:00 duration=90 destination=33123
a02 alice call 2026-06-01T08:10:00+00:00 duration=45 destination=34999
a03 alice sms  2026-06-01T08:20:00+00:00 destination=33123
a04 alice sms  2026-06-01T08:21:00+00:00 destination=33123
a05 alice sms  2026-06-01T08:22:00+00:00 destination=33123
a06 alice data 2026-06-01T09:00:00+00:00 volume=60000000
a07 alice data 2026-06-01T09:30:00+00:00 volume=70000001
a08 alice call 2026-06-01T10:00:00+00:00 duration=0 destination=44123
a09 alice call 2026-06-01T10:05:00+00:00 duration=61 destination=44123 roaming=true
a10 alice call 2026-06-02T07:00:00+00:00 duration=7 destination=1555
a11 alice call 2026-06-02T07:30:00+00:00 duration=125 destination=33000
a12 alice data 2026-06-02T08:00:00+00:00 volume=0
b01 bob   call 2026-06-01T08:05:00+00:00 duration=200 destination=33777
b02 bob   sms  2026-06-01T08:06:00+00:00 destination=44
b03 bob   call 2026-06-01T11:00:00+00:00 duration=30 destination=99912
b04 bob   sms  2026-06-01T12:00:00+00:00 destination=44
b05 bob   data 2026-06-02T06:00:00+00:00 volume=150000000
b06 bob   call 2026-06-02T09:00:00+00:00 duration=31 destination=7 roaming=true
b07 bob   call 2026-06-30T21:59:00+00:00 duration=100 destination=33777
b08 bob   call 2026-06-30T22:01:00+00:00 duration=100 destination=33777
b09 bob   sms  2026-06-30T22:02:00+00:00 destination=44
b10 bob   data 2026-07-01T06:00:00+00:00 volume=120000000
c01 carol call 2026-06-01T08:30:00+00:00 duration=100 destination=34
c02 carol data 2026-06-01T08:31:00+00:00 volume=99999999
c03 carol data 2026-06-01T08:32:00+00:00 volume=2
d01 dave  sms  2026-06-01T08:30:00+00:00 destination=1
d02 dave  call 2026-06-01T08:31:00+00:00 duration=121 destination=33 roaming=true
d03 dave  sms  2026-06-02T08:30:00+00:00 destination=1
d04 dave  sms  2026-06-02T08:31:00+00:00 destination=1
"""


def records(text: str) -> list[dict[str, Any]]:
    found = []
    for line in filter(None, map(str.strip, text.splitlines())):
        cdr_id, holder, kind, at, *pairs = line.split()
        properties = dict(pair.split("=", 1) for pair in pairs)
        found.append(
            {
                "id": cdr_id,
                "item_class": CLASSES[kind],
                "consumption_date": at,
                "service_id": "mobile",
                "user_id": f"{holder}-msisdn",
                "properties": properties,
            }
        )
    return found


def exact(value: Any) -> Any:
    """``value`` with every Decimal as (value, text), so that equal values written with other exponents differ."""
    if isinstance(value, Decimal):
        return (value, str(value))
    if isinstance(value, dict):
        return {key: exact(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [exact(item) for item in value]
    return value


def postings_by_account(connection: sa.Connection) -> dict[str, Any]:
    """Per account: its other account operations as written, and what its postings (debits, accumulations) add up to
    with the balance after the last. A job posts one operation per account per chunk, a single charge one per item, and
    the paths cut chunks differently, so that is what every way of charging the same CDRs leaves alike."""
    found: dict[str, Any] = {}
    for row in connection.execute(sa.select(account_operations).order_by(account_operations.c.id)):
        seen = found.setdefault(row.account_id, {"others": [], "kinds": set(), "posted": Decimal(0), "last": None})
        if row.kind in ("debit", "accumulation"):
            seen["kinds"].add(row.kind)
            seen["posted"] += row.amount
            seen["last"] = row.balance_after
        else:
            seen["others"].append((row.kind, row.amount, row.balance_after, row.currency))
    return exact(found)


def snapshot(engine: Engine) -> dict[str, Any]:
    """What a job leaves, keyed by CDR id (operation ids blanked)."""
    with engine.database.connect() as connection:
        # A job's charge of a CDR is its outcome (no operation row); a single charge of a CDR (the comparison below) is
        # an operation with the CDR id as idempotency key. Each as (contract, when charged, job).
        outcome = cdr_outcomes.c
        of_cdrs = cdr_outcomes.join(cdrs, outcome_of(cdr_outcomes))
        charges = {
            row.id: (row.operation_id, row.contract_id, row.charged_at, row.job_id)
            for row in connection.execute(sa.select(cdrs.c.id, cdr_outcomes).select_from(of_cdrs).where(outcome.operation_id.is_not(None)))
        }
        for row in connection.execute(sa.select(charging_operations)):
            charges[row.idempotency_key] = (row.id, row.contract_id, row.created_at, row.sender_job_id)
        cdr_of = {operation_id: cdr_id for cdr_id, (operation_id, *_) in charges.items()}

        def by_cdr(table: sa.Table, columns: tuple[str, ...]) -> dict[str, list[Any]]:
            grouped: dict[str, list[Any]] = {}
            for row in connection.execute(sa.select(table).order_by(table.c.id)):
                grouped.setdefault(cdr_of.get(row.operation_id, "-"), []).append(exact({name: getattr(row, name) for name in columns}))
            return grouped

        return {
            "cdrs": {
                row.id: (
                    row.status,
                    row.error_category,
                    row.error_reason,
                    row.error_code,
                    row.error_message,
                    cdr_of.get(row.operation_id) if row.operation_id else None,
                )
                for row in connection.execute(cdr_states().select())
            },
            "operations": {cdr_id: exact(tuple(charge[1:])) for cdr_id, charge in charges.items()},
            "charged_items": by_cdr(
                charged_items,
                (
                    "contract_id",
                    "contract_item_id",
                    "item_class",
                    "charge_plan",
                    "charge",
                    "account_role",
                    "account_id",
                    "amount",
                    "currency",
                    "quantity",
                    "quantity_unit",
                    "output",
                    "consumption_date",
                ),
            ),
            "account_operations": postings_by_account(connection),
            "ledger": engine.verify_ledger().differences,
            "notifications": {
                key: [note | {"data": json.loads(note["data"])} for note in notes]
                for key, notes in by_cdr(notifications, ("contract_id", "kind", "message", "data", "created_at")).items()
            },
            "balances": {row.id: exact((row.balance, row.floor, row.credit_limit)) for row in connection.execute(sa.select(accounts))},
            "counters": {
                (row.contract_id, row.item_id, row.name): exact((row.unit, row.value, row.period_start, row.expires_at))
                for row in connection.execute(sa.select(counters))
            },
            "shared_counters": {
                (row.namespace, row.name): exact((row.unit, row.value, row.period_start, row.expires_at))
                for row in connection.execute(sa.select(shared_counters))
            },
            "counter_journal": by_cdr(
                counter_journal,
                (
                    "contract_id",
                    "kind",
                    "scope",
                    "item_id",
                    "name",
                    "unit",
                    "present",
                    "value",
                    "period_start",
                    "expires_at",
                    "recorded_at",
                ),
            ),
        }


counter = itertools.count()


@contextmanager
def job_run(
    database: str, tmp_path: Path, rows: list[dict[str, Any]], mode: RatingMode, path: RatingPath, *, chunk_cdrs: int = 1000, **world: Any
) -> Iterator[dict[str, Any]]:
    """Import ``rows`` into a fresh database with the world, run one job in ``mode`` on ``path``; what it left."""
    with imported(database, tmp_path / f"{path.value}-{next(counter)}", rows, lambda engine: build(engine, **world)) as engine:
        engine.run_rating_job(engine.start_rating_job(mode), chunk_cdrs=chunk_cdrs, path=path)
        yield snapshot(engine)


@contextmanager
def imported(database: str, directory: Path, rows: list[dict[str, Any]], world: Callable[[Engine], None]) -> Iterator[Engine]:
    """An engine on a fresh database in ``directory``, its ``world`` built and ``rows`` imported as CDRs."""
    directory.mkdir()
    with (
        fresh_database(database, directory) as url,
        Engine(url, clock=FixedClock(), new_id=SequentialIds("id")) as engine,
    ):
        world(engine)
        engine.import_cdrs(enumerate(rows, start=1), strict=True)
        yield engine


def both_paths(
    database: str, tmp_path: Path, rows: list[dict[str, Any]], mode: RatingMode, caplog: pytest.LogCaptureFixture, **options: Any
) -> tuple[dict[str, Any], dict[str, Any], list[logging.LogRecord]]:
    """What the AUTO job left, what the ROW job left, and the log records of the AUTO job."""
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger=LOGGER), job_run(database, tmp_path, rows, mode, RatingPath.AUTO, **options) as auto:
        logged = [record for record in caplog.records if record.name == LOGGER]
    with job_run(database, tmp_path, rows, mode, RatingPath.ROW, **options) as row:
        pass
    return auto, row, logged


def differences(auto: Any, row: Any, where: str = "") -> list[str]:
    """Where ``auto`` and ``row`` differ, down to the leaves: ``path: auto != row``."""
    if isinstance(auto, dict) and isinstance(row, dict):
        found = [f"{where}/{key!r}: only {'AUTO' if key in auto else 'ROW'} has it" for key in auto.keys() ^ row.keys()]
        return found + [line for key in auto.keys() & row.keys() for line in differences(auto[key], row[key], f"{where}/{key!r}")]
    if isinstance(auto, list) and isinstance(row, list) and len(auto) == len(row):
        return [
            line
            for index, (left, right) in enumerate(zip(auto, row, strict=True))
            for line in differences(left, right, f"{where}[{index}]")
        ]
    return [] if auto == row else [f"{where}: AUTO {auto!r} != ROW {row!r}"]


def assert_same(auto: dict[str, Any], row: dict[str, Any]) -> None:
    """Equal in every section; a failure lists each differing leaf (section, CDR id, field)."""
    found = differences(auto, row)
    assert not found, "\n".join(sorted(found)[:40])


def vectorized(logged: list[logging.LogRecord]) -> int:
    """How many CDRs the AUTO job charged on the vectorized path (the DEBUG lines, one per vectorized chunk)."""
    messages = [record.getMessage() for record in logged if record.levelno == logging.DEBUG and VECTORIZED in record.getMessage()]
    return sum(int(match.group(1)) for message in messages if (match := re.search(r"(\d+) CDRs", message)))


def fallbacks(logged: list[logging.LogRecord]) -> list[str]:
    return [record.getMessage() for record in logged if record.levelno == logging.INFO and FALLBACK in record.getMessage()]


DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
MODES = [RatingMode.DAY_SUBSCRIPTION_FIRST_FAIL, RatingMode.DAY_MOST, RatingMode.SUBSCRIPTION_FIRST_FAIL, RatingMode.SUBSCRIPTION_MOST]


# ---- the plain case: every partition vectorized ----------------------------------------------------


@pytest.mark.parametrize("database", DATABASES)
@pytest.mark.parametrize("mode", [*MODES, RatingMode.SUBSCRIPTION_TRY])
def test_a_job_on_the_vectorized_path_leaves_what_the_row_path_leaves(
    tmp_path: Path, database: str, mode: RatingMode, caplog: pytest.LogCaptureFixture
) -> None:
    auto, row, logged = both_paths(database, tmp_path, records(PLAIN_CDRS), mode, caplog)

    assert_same(auto, row)
    assert {status for status, *_ in row["cdrs"].values()} >= {"charged", "failed"}
    if mode is RatingMode.SUBSCRIPTION_TRY:
        assert vectorized(logged) == 0
    else:
        assert vectorized(logged) == len(row["cdrs"]), logged
        assert [record.getMessage() for record in logged if record.levelno >= logging.INFO] == []


@pytest.mark.parametrize("database", DATABASES)
@pytest.mark.parametrize("path", [RatingPath.AUTO, RatingPath.ROW])
def test_a_charged_cdr_leaves_no_operation_row_and_a_recharge_charges_the_stored_cdr_again(
    tmp_path: Path, database: str, path: RatingPath
) -> None:
    rows = records(PLAIN_CDRS)
    with imported(database, tmp_path / "job", rows, build) as engine:
        engine.run_rating_job(engine.start_rating_job(RatingMode.DAY_MOST), path=path)
        with engine.database.connect() as connection:
            operations = connection.execute(sa.select(sa.func.count()).select_from(charging_operations)).scalar_one()
            outcome = cdr_outcomes.c
            query = (
                sa.select(cdrs.c.id.label("cdr_id"), outcome.operation_id, outcome.charged_at)
                .select_from(cdr_outcomes.join(cdrs, outcome_of(cdr_outcomes)))
                .where(outcome.status == "charged")
            )
            charged = {row.cdr_id: (row.operation_id, row.charged_at) for row in connection.execute(query)}
            named = set(connection.execute(sa.select(charged_items.c.operation_id).distinct()).scalars())
        alice = sum(1 for cdr_id in charged if cdr_id.startswith("a"))

        recharged = engine.recharge("alice-contract", datetime(2026, 6, 1, tzinfo=UTC))

    # The outcome is the charge's record: its operation id, which the charged items name, and when it was charged; the
    # item is the stored CDR.
    assert operations == 0
    assert charged
    assert all(operation_id is not None and charged_at is not None for operation_id, charged_at in charged.values())
    assert named <= {operation_id for operation_id, _ in charged.values()}
    # The same catalog prices every item of alice's again, read from her CDRs, as it was: nothing changes.
    assert (recharged.items_recharged, recharged.items_changed, recharged.items_refused, recharged.compensations) == (alice, 0, 0, [])


# ---- schedules and low balances: erin's calls by the time of day, her prepaid balance watched ----------

# A holiday crossed by a call as summer time starts (29 March), a call from peak into off-peak and the allowance's rest
# cut from the consumption date, SMS refunds taking the balance back above its threshold (so it is crossed again),
# a four-hour peak call, a Saturday, midnight into a holiday (14 July), the night summer time ends (25 October).
SCHEDULE_CDRS = """
e01 erin call 2026-03-29T00:30:00+00:00 duration=18000 destination=33123
e02 erin call 2026-06-01T17:55:00+00:00 duration=600 destination=33123
e03 erin sms  2026-06-01T18:10:00+00:00 destination=1
e04 erin sms  2026-06-01T18:20:00+00:00 destination=refund
e05 erin call 2026-06-01T21:00:00+00:00 duration=600 destination=33123
e06 erin call 2026-06-02T06:00:00+00:00 duration=14400 destination=33123
e07 erin call 2026-06-06T06:59:00+00:00 duration=120 destination=33123
e08 erin call 2026-07-13T21:50:00+00:00 duration=1200 destination=33123
e09 erin sms  2026-07-13T21:55:00+00:00 destination=refund
e10 erin call 2026-10-24T23:30:00+00:00 duration=7200 destination=33123
e11 erin call 2026-10-25T00:00:00+00:00 duration=0 destination=33123
"""


@pytest.mark.parametrize("database", DATABASES)
@pytest.mark.parametrize("mode", MODES)
def test_schedules_and_low_balances_take_the_vectorized_path_and_leave_what_the_row_path_leaves(
    tmp_path: Path, database: str, mode: RatingMode
) -> None:
    rows = records(PLAIN_CDRS + SCHEDULE_CDRS)
    left = []
    paths = []
    for path in (RatingPath.AUTO, RatingPath.ROW):
        directory = tmp_path / f"schedules-{path.value}"
        directory.mkdir()
        with fresh_database(database, directory) as url, Engine(url, clock=FixedClock(), new_id=SequentialIds("id")) as engine:
            build(engine)
            engine.import_cdrs(enumerate(rows, start=1), strict=True)
            job_id = engine.start_rating_job(mode)
            engine.run_rating_job(job_id, path=path)
            paths.append([(count.path, count.reason, count.count) for count in engine.rating_job(job_id).paths])
            left.append(snapshot(engine))
    auto, row = left

    assert paths[0] == [("vectorized", None, len(rows))]
    assert_same(auto, row)
    low_balances = [
        (cdr_id, note["data"]["balance"])
        for cdr_id, notes in sorted(row["notifications"].items())
        for note in notes
        if note["kind"] == "low_balance"
    ]
    # Told once per crossing: e03 (already below) tells nothing, e05 tells again after e04's refund.
    assert low_balances == [("e02", "495.85"), ("e05", "495.75")]
    assert row["cdrs"]["e06"][0] == "charged"
    assert {note["kind"] for note in row["notifications"]["e02"]} == {"allowance_exhausted", "threshold_crossed", "low_balance"}


# ---- minimal cases: one plan, one postpaid contract, a CDR or two ------------------------------------

MINIMAL_ITEM_CLASSES = """
currencies:
  - {code: EUR, decimals: 5}  # sub-cent balances, as in the prepaid case below
item_classes:
  - name: sms
    properties:
      - {name: destination, type: string}
  - name: data_session
    quantity: volume
    properties:
      - {name: volume, type: integer, unit: bytes}
"""

POSTPAID = {"id": "bob-payer", "kind": "postpaid"}

MINIMAL_CASES = {
    # rate_item rounds -0.004 at 2 decimals half_up to Decimal("-0.00"); the row path writes that text.
    "negative-amount-rounded-to-zero": (
        """
charge_plans:
  - name: mobile
    currency: EUR
    charges:
      - {name: sms, item_class: sms, account_role: payer, price: {type: flat, amount: "0.10"}}
      - {name: rebate, item_class: sms, account_role: payer, price: {type: flat, amount: "-0.004"}}
""",
        "b1 bob sms 2026-06-01T08:00:00+00:00 destination=1",
        POSTPAID,
    ),
    # Two moves of 0.5 MB each: the row path adds them exactly, the chunk sums them once; either way 1 MB, written "1".
    "counter-moved-twice-in-a-chunk": (
        """
charge_plans:
  - name: mobile
    currency: EUR
    counters:
      - {name: megabytes_used, scope: contract, unit: megabytes}
    charges:
      - name: data
        item_class: data_session
        account_role: payer
        price: {type: flat, amount: "0.01"}
        counter_updates:
          - {counter: megabytes_used, add: quantity}
""",
        """
b1 bob data 2026-06-01T08:00:00+00:00 volume=500000
b2 bob data 2026-06-01T08:01:00+00:00 volume=500000
""",
        POSTPAID,
    ),
    # The same for an allowance: 0.25 MB taken twice from 1 MB, one by one or summed, leaves 0.5 MB ("0.5").
    "allowance-consumed-twice-in-a-chunk": (
        """
charge_plans:
  - name: mobile
    currency: EUR
    counters:
      - {name: free_megabytes, scope: contract, unit: megabytes, initial: 1}
    charges:
      - name: data
        item_class: data_session
        account_role: payer
        price: {type: allowance, counter: free_megabytes, then: {type: rate, amount: "0.01", unit: megabytes}}
""",
        """
b1 bob data 2026-06-01T08:00:00+00:00 volume=250000
b2 bob data 2026-06-01T08:01:00+00:00 volume=250000
""",
        POSTPAID,
    ),
    # A prepaid balance with more places than the charges, credited by a negative charge, then debited.
    "prepaid-credited-by-a-negative-charge": (
        """
charge_plans:
  - name: mobile
    currency: EUR
    charges:
      - {name: sms, item_class: sms, account_role: payer, price: {type: flat, amount: "0.10"}, rounding: {decimals: 3, mode: floor}}
      - {name: rebate, item_class: sms, account_role: payer, price: {type: flat, amount: "-0.25"}}
      - name: data
        item_class: data_session
        account_role: payer
        price: {type: rate, amount: "0.7", unit: megabytes}
        rounding: {decimals: 1, mode: up}
""",
        """
b1 bob sms 2026-06-01T08:00:00+00:00 destination=1
b2 bob data 2026-06-01T08:01:00+00:00 volume=2500000
b3 bob sms 2026-06-01T08:02:00+00:00 destination=1
""",
        {"id": "bob-payer", "kind": "prepaid", "initial_balance": "10.23456"},
    ),
}


MINIMAL_CASES["several-contract-items"] = (
    # The contract's first item prices SMS, its second (a data pack) data, each with counters of its own item.
    """
charge_plans:
  - name: mobile
    currency: EUR
    counters:
      - {name: sms_sent, scope: contract_item, unit: events, reset: daily, time_zone: Europe/Paris, thresholds: [{value: 2, direction: up}]}
    charges:
      - name: sms
        item_class: sms
        account_role: payer
        counter_updates: [{counter: sms_sent, add: one}]
        price: {type: flat, amount: "0.10"}
  - name: data_pack
    currency: EUR
    counters:
      - name: pack_megabytes
        scope: contract_item
        unit: megabytes
        initial: 1
        reset: monthly
        time_zone: Europe/Paris
        thresholds: [{value: 0.5, direction: down}]
    charges:
      - name: data
        item_class: data_session
        account_role: payer
        price: {type: allowance, counter: pack_megabytes, then: {type: rate, amount: "0.01", unit: megabytes}}
""",
    """
b1 bob sms  2026-06-01T08:00:00+00:00 destination=1
b2 bob data 2026-06-01T08:01:00+00:00 volume=600000
b3 bob sms  2026-06-01T21:59:00+00:00 destination=1
b4 bob sms  2026-06-01T22:00:00+00:00 destination=1
b5 bob data 2026-06-02T08:01:00+00:00 volume=600000
b6 bob sms  2026-06-02T08:02:00+00:00 destination=1
b7 bob data 2026-06-30T22:00:00+00:00 volume=300000
""",
    POSTPAID,
)


def minimal_world(engine: Engine, plans: str, account: dict[str, str]) -> None:
    engine.load_catalog(parse_document(MINIMAL_ITEM_CLASSES + plans, source="minimal.yaml"))
    engine.create_subscriber_account(SubscriberAccountInput.model_validate({"id": "bob", "currency": "EUR", "accounts": [account]}))
    engine.create_contract(
        ContractInput.model_validate(
            {
                "id": "bob-contract",
                "subscriber_account_id": "bob",
                "valid_from": START.isoformat(),
                "items": [{"id": "main", "charge_plan": "mobile"}]
                + ([{"id": "pack", "charge_plan": "data_pack"}] if "name: data_pack" in plans else []),
                "roles": {"payer": "bob-payer"},
            }
        )
    )
    engine.create_access(
        AccessInput.model_validate(
            {"service_id": "mobile", "user_id": "bob-msisdn", "contract_id": "bob-contract", "valid_from": START.isoformat()}
        )
    )


@pytest.mark.parametrize("database", DATABASES)
@pytest.mark.parametrize("case", list(MINIMAL_CASES))
def test_a_minimal_case_is_written_alike_on_both_paths(tmp_path: Path, database: str, case: str, caplog: pytest.LogCaptureFixture) -> None:
    plans, cdr_lines, account = MINIMAL_CASES[case]
    left = []
    for path in (RatingPath.AUTO, RatingPath.ROW):
        directory = tmp_path / f"minimal-{path.value}"
        directory.mkdir()
        with (
            fresh_database(database, directory) as url,
            Engine(url, clock=FixedClock(), new_id=SequentialIds("id")) as engine,
            caplog.at_level(logging.DEBUG, logger=LOGGER),
        ):
            minimal_world(engine, plans, account)
            engine.import_cdrs(enumerate(records(cdr_lines), start=1), strict=True)
            engine.run_rating_job(engine.start_rating_job(RatingMode.DAY_MOST), path=path)
            left.append(snapshot(engine))
    auto, row = left
    assert vectorized([record for record in caplog.records if record.name == LOGGER]) == len(row["cdrs"])
    assert_same(auto, row)


# A discount over a prefix whose zones are capped per item (alike caps with their own maxima: one family), and a cap
# over an allowance whose rest is discounted by a fraction of a percent; rounded half_even and up.
DISCOUNT_AND_CAP_PLAN = """
charge_plans:
  - name: mobile
    currency: EUR
    counters:
      - {name: free_megabytes, scope: contract, unit: megabytes, initial: 1, reset: monthly, time_zone: Europe/Paris}
    charges:
      - name: sms
        item_class: sms
        account_role: payer
        rounding: {decimals: 2, mode: half_even}
        price:
          type: discount
          percent: "12.5"
          price:
            type: prefix
            property: destination
            prefixes:
              "33": {type: cap, maximum: "0.07", price: {type: flat, amount: "0.0999"}}
              "44": {type: cap, maximum: "0.30", price: {type: flat, amount: "0.25"}}
              "49": {type: cap, maximum: "0", price: {type: flat, amount: "0.40"}}
            default: {type: discount, percent: "100", price: {type: flat, amount: "0.15"}}
      - name: data
        item_class: data_session
        account_role: payer
        rounding: {decimals: 3, mode: up}
        price:
          type: cap
          maximum: "0.5"
          price:
            type: allowance
            counter: free_megabytes
            then: {type: discount, percent: "33.333", price: {type: rate, amount: "0.07", unit: megabytes}}
"""

DISCOUNT_AND_CAP_CDRS = """
b1 bob sms  2026-06-01T08:00:00+00:00 destination=33123
b2 bob data 2026-06-01T08:01:00+00:00 volume=600000
b3 bob sms  2026-06-01T08:02:00+00:00 destination=44
b4 bob data 2026-06-01T08:03:00+00:00 volume=2500001
b5 bob sms  2026-06-01T08:04:00+00:00 destination=4917
b6 bob data 2026-06-01T08:05:00+00:00 volume=12000000
b7 bob sms  2026-06-01T08:06:00+00:00 destination=1
b8 bob data 2026-06-30T22:00:00+00:00 volume=1700000
"""


def plan_on_both_paths(
    database: str, tmp_path: Path, plan: str, jobs: list[list[dict[str, Any]]], mode: RatingMode
) -> tuple[list[dict[str, Any]], list[list[tuple[str, str | None, int]]]]:
    """What the AUTO and the ROW paths leave (in that order) on a minimal world of ``plan`` with a postpaid payer, its
    CDRs imported and rated by one job per list of ``jobs``; and each path's CDR counts by path and reason."""
    left, paths = [], []
    for path in (RatingPath.AUTO, RatingPath.ROW):
        directory = tmp_path / f"plan-{path.value}"
        directory.mkdir()
        with fresh_database(database, directory) as url, Engine(url, clock=FixedClock(), new_id=SequentialIds("id")) as engine:
            minimal_world(engine, plan, POSTPAID)
            counted: dict[tuple[str, str | None], int] = {}
            imported = 0
            for rows in jobs:
                engine.import_cdrs(enumerate(rows, start=imported + 1), strict=True)
                imported += len(rows)
                for found in engine.run_rating_job(engine.start_rating_job(mode), path=path).paths:
                    counted[(found.path, found.reason)] = counted.get((found.path, found.reason), 0) + found.count
            paths.append([(kind, reason, count) for (kind, reason), count in counted.items()])
            left.append(snapshot(engine))
    return left, paths


@pytest.mark.parametrize("database", DATABASES)
@pytest.mark.parametrize("mode", [RatingMode.DAY_MOST, RatingMode.SUBSCRIPTION_FIRST_FAIL])
def test_discounts_and_caps_per_item_take_the_vectorized_path_and_leave_what_the_row_path_leaves(
    tmp_path: Path, database: str, mode: RatingMode
) -> None:
    rows = records(DISCOUNT_AND_CAP_CDRS)
    (auto, row), paths = plan_on_both_paths(database, tmp_path, DISCOUNT_AND_CAP_PLAN, [rows], mode)

    assert paths == [[("vectorized", None, len(rows))], [("row", "row_path_requested", len(rows))]]
    assert_same(auto, row)
    assert {status for status, *_ in row["cdrs"].values()} == {"charged"}
    amounts = {cdr_id: [item["amount"][1] for item in found] for cdr_id, found in row["charged_items"].items()}
    # b1: 0.0999 capped at 0.07, 87.5 % of it is 0.06125; b5: capped at 0; b7: 100 % off; b4: 2.100001 MB past the
    # allowance at 0.07 x 0.66667, 0.0980005... rounded up; b6: 0.5600028 capped at 0.5; b8: a new month's allowance.
    assert amounts == {
        "b1": ["0.06"],
        "b2": ["0.000"],
        "b3": ["0.22"],
        "b4": ["0.099"],
        "b5": ["0.00"],
        "b6": ["0.500"],
        "b7": ["0.00"],
        "b8": ["0.033"],
    }


CAP_WITH_A_COUNTER_PLAN = """
charge_plans:
  - name: mobile
    currency: EUR
    counters:
      - name: data_spent
        scope: contract
        unit: amount
        reset: monthly
        time_zone: Europe/Paris
        thresholds: [{value: 0.1, direction: up}]
    charges:
      - name: data
        item_class: data_session
        account_role: payer
        rounding: {decimals: 4, mode: half_even}
        price:
          type: cap
          maximum: "0.20"
          counter: data_spent
          price: {type: sum, parts: [{type: rate, amount: "0.07", unit: megabytes, per: 3}, {type: flat, amount: "-0.01"}]}
      - {name: sms, item_class: sms, account_role: payer, price: {type: flat, amount: "0.10"}}
"""


@pytest.mark.parametrize("database", DATABASES)
@pytest.mark.parametrize(
    ("mode", "jobs"),
    [
        pytest.param(RatingMode.DAY_MOST, 1, id="day-most"),
        pytest.param(RatingMode.SUBSCRIPTION_FIRST_FAIL, 1, id="subscription-first-fail"),
        # The counter's fraction of a cent that the first job stores (0.10666...) is read back by the second.
        pytest.param(RatingMode.DAY_MOST, 2, id="day-most-in-two-jobs"),
    ],
)
def test_a_cap_over_a_monthly_counter_takes_the_vectorized_path_and_leaves_what_the_row_path_leaves(
    tmp_path: Path, database: str, mode: RatingMode, jobs: int
) -> None:
    # What the cap lets through is counted in thirds of a cent (per 3 MB) in an amount counter reset monthly in Paris:
    # a threshold crossed, the cap reached part-way through b3 and told once, a negative amount, a new month.
    cdr_lines = """
b1 bob data 2026-06-01T08:00:00+00:00 volume=5000000
b2 bob sms  2026-06-01T08:00:30+00:00 destination=1
b3 bob data 2026-06-01T08:01:00+00:00 volume=5000000
b4 bob data 2026-06-01T08:02:00+00:00 volume=1000000
b5 bob data 2026-06-01T08:03:00+00:00 volume=100000
b6 bob data 2026-06-30T22:00:00+00:00 volume=6000000
"""
    rows = records(cdr_lines)
    (auto, row), paths = plan_on_both_paths(
        database, tmp_path, CAP_WITH_A_COUNTER_PLAN, [rows] if jobs == 1 else [rows[:2], rows[2:]], mode
    )

    assert paths == [[("vectorized", None, len(rows))], [("row", "row_path_requested", len(rows))]]
    assert_same(auto, row)
    kinds = {cdr_id: [note["kind"] for note in found] for cdr_id, found in row["notifications"].items()}
    assert kinds == {"b1": ["threshold_crossed"], "b3": ["cap_reached"], "b6": ["threshold_crossed"]}
    amounts = {cdr_id: [item["amount"][1] for item in found] for cdr_id, found in row["charged_items"].items()}
    # b1 and b3: 5 MB at 0.07 per 3 less 0.01, 0.10666... each, b3 let through up to 0.20 (0.09333...); b5: negative;
    # b6: 0.13 in July.
    assert amounts == {
        "b1": ["0.1067"],
        "b2": ["0.10"],
        "b3": ["0.0933"],
        "b4": ["0.0000"],
        "b5": ["0.0000"],
        "b6": ["0.1300"],
    }


HUGE_VOLUME_PLAN = """
charge_plans:
  - name: mobile
    currency: EUR
    charges:
      - {name: data, item_class: data_session, account_role: payer, price: {type: rate, amount: "0.7", unit: megabytes}}
"""


@pytest.mark.parametrize("database", DATABASES)
def test_a_chunk_whose_amounts_could_pass_int128_goes_to_the_row_path(
    tmp_path: Path, database: str, caplog: pytest.LogCaptureFixture
) -> None:
    # 10^37 bytes at 0.7 a megabyte, in cents: 7 x 10^39, past Int128, where Polars would wrap around without a word.
    # A postpaid account without a credit limit lets any amount through: only the bound sends the chunk to the row path.
    cdr_lines = f"b1 bob data 2026-06-01T08:00:00+00:00 volume=1{'0' * 37}\nb2 bob data 2026-06-01T08:01:00+00:00 volume=2500000"
    left = []
    for path in (RatingPath.AUTO, RatingPath.ROW):
        directory = tmp_path / f"huge-{path.value}"
        directory.mkdir()
        with (
            fresh_database(database, directory) as url,
            Engine(url, clock=FixedClock(), new_id=SequentialIds("id")) as engine,
            caplog.at_level(logging.DEBUG, logger=LOGGER),
        ):
            minimal_world(engine, HUGE_VOLUME_PLAN, POSTPAID)
            engine.import_cdrs(enumerate(records(cdr_lines), start=1), strict=True)
            engine.run_rating_job(engine.start_rating_job(RatingMode.DAY_MOST), path=path)
            left.append(snapshot(engine))
    auto, row = left
    logged = [record for record in caplog.records if record.name == LOGGER]
    assert vectorized(logged) == 0
    assert any("too large for the integer form" in message for message in fallbacks(logged)), fallbacks(logged)
    assert_same(auto, row)


# ---- generated CDR sets -------------------------------------------------------------------------

HOLDER_NAMES = ["alice", "bob", "carol", "dave"]
KINDS = [
    ("sms", {"destination": "1"}),
    ("call", {"duration": "0", "destination": "33123"}),
    ("call", {"duration": "59", "destination": "33123"}),
    ("call", {"duration": "61", "destination": "34123", "roaming": "true"}),
    ("call", {"duration": "300", "destination": "44"}),
    ("call", {"duration": "7", "destination": "5"}),
    ("call", {"duration": "10", "destination": "9991"}),
    ("data", {"volume": "0"}),
    ("data", {"volume": "33333333"}),
    ("data", {"volume": "70000000"}),
]
FIRST = datetime(2026, 6, 1, tzinfo=UTC)

cdr_strategy = st.tuples(st.sampled_from(HOLDER_NAMES), st.integers(min_value=0, max_value=2 * 24 * 60), st.sampled_from(KINDS))


def generated(drawn: list[tuple[str, int, tuple[str, dict[str, str]]]]) -> list[dict[str, Any]]:
    return [
        {
            "id": f"g{number:03d}",
            "item_class": CLASSES[kind],
            # From 20:00 UTC the day before: the first of June starts at 22:00 UTC in Paris (a monthly reset).
            "consumption_date": (FIRST + timedelta(minutes=minute - 4 * 60)).isoformat(),
            "service_id": "mobile",
            "user_id": f"{holder}-msisdn",
            "properties": properties,
        }
        for number, (holder, minute, (kind, properties)) in enumerate(drawn)
    ]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    drawn=st.lists(cdr_strategy, min_size=1, max_size=40),
    mode=st.sampled_from([*MODES, RatingMode.SUBSCRIPTION_TRY]),
    chunk_cdrs=st.sampled_from([1, 3, 1000]),
    alice_balance=st.sampled_from(["100.00", "2.5"]),
    linked=st.booleans(),
)
def test_generated_jobs_leave_the_same_on_both_paths(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    drawn: list[tuple[str, int, tuple[str, dict[str, str]]]],
    mode: RatingMode,
    chunk_cdrs: int,
    alice_balance: str,
    linked: bool,
) -> None:
    rows = generated(drawn)
    auto, row, _ = both_paths("sqlite", tmp_path, rows, mode, caplog, chunk_cdrs=chunk_cdrs, alice_balance=alice_balance, linked=linked)

    assert_same(auto, row)


@pytest.mark.parametrize("database", DATABASES)
def test_an_item_that_stores_nothing_does_not_move_a_shared_counters_period(
    tmp_path: Path, database: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Found by the generated jobs. Carol's data item of 0 bytes falls in a new weekly period of her counter, which has
    no row yet: it stores nothing. Dave's contract, linked to hers, then moves the counter with an item dated in the
    period before, which is counted in its own period (the row path's "periods never go back" is about the stored
    period), not in carol's later one."""
    rows = generated([("carol", 1920, ("data", {"volume": "0"})), ("dave", 0, ("data", {"volume": "33333333"}))])

    auto, row, logged = both_paths(database, tmp_path, rows, RatingMode.SUBSCRIPTION_FIRST_FAIL, caplog, chunk_cdrs=1, linked=True)

    assert vectorized(logged) == len(rows)
    assert_same(auto, row)
    assert auto["counters"][("carol-contract", "", "megabytes_used")][2] == datetime(2026, 5, 26, 4, tzinfo=UTC)


# ---- fallbacks: the vectorized path hands over to the row path -------------------------------------

FALLBACK_CASES = {
    "balance-runs-dry": ("", {"alice_balance": "1.50"}),
    # 07:59:59.5 in Paris: the call crosses 08:00 half a second in; the row path prices its parts as fractions.
    "schedule-part-with-a-fraction-of-a-second": (
        """
e01 erin call 2026-06-01T17:55:00+00:00 duration=600 destination=33123
e02 erin call 2026-06-02T05:59:59.5+00:00 duration=130 destination=33123
""",
        {},
    ),
    "invalid-property": ("a99 alice call 2026-06-01T08:15:00+00:00 duration=abc destination=33123", {}),
    "access-not-found": ("x01 nobody sms 2026-06-01T08:15:00+00:00 destination=1", {}),
    "fractional-quantity": ("a98 alice call 2026-06-01T08:15:00+00:00 duration=1.5 destination=44", {}),
    # 10^37 seconds: its price would pass Int128, which Polars wraps around; the row path prices it exactly.
    "too-large-for-int128": (f"a97 alice call 2026-06-01T08:15:00+00:00 duration=1{'0' * 37} destination=44", {}),
}


@pytest.mark.parametrize("database", DATABASES)
@pytest.mark.parametrize("mode", [RatingMode.DAY_MOST, RatingMode.SUBSCRIPTION_FIRST_FAIL])
@pytest.mark.parametrize("case", list(FALLBACK_CASES))
def test_a_chunk_the_vectorized_path_cannot_take_falls_back_to_the_row_path(
    tmp_path: Path, database: str, mode: RatingMode, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    extra, world = FALLBACK_CASES[case]
    rows = records(PLAIN_CDRS + extra)
    auto, row, logged = both_paths(database, tmp_path, rows, mode, caplog, **world)

    assert fallbacks(logged), logged
    assert_same(auto, row)
    codes = {code for _, _, _, code, *_ in row["cdrs"].values()}
    expected_code = {
        "balance-runs-dry": "prepaid_balance_cannot_cover",
        "schedule-part-with-a-fraction-of-a-second": None,
        "invalid-property": "property_invalid",
        "access-not-found": "access_not_found",
        "fractional-quantity": None,
        "too-large-for-int128": "prepaid_balance_cannot_cover",
    }[case]
    assert expected_code in codes, codes


# ---- chunking: counters and balances carried from one vectorized chunk to the next -----------------


def many(count_per_holder: int) -> list[dict[str, Any]]:
    found = []
    for holder_index, holder in enumerate(HOLDER_NAMES):
        for number in range(count_per_holder):
            kind, properties = KINDS[(number * 7 + holder_index) % len(KINDS)]
            if properties.get("destination") == "9991":
                properties = properties | {"destination": "33999"}
            if (holder, number) == ("alice", 200):
                # One refusal only, in alice's second vectorized chunk: first-fail skips the rest of her CDRs.
                kind, properties = "call", {"duration": "10", "destination": "9991"}
            found.append(
                {
                    "id": f"{holder[0]}{number:04d}",
                    "item_class": CLASSES[kind],
                    "consumption_date": (FIRST + timedelta(minutes=number * 5 + holder_index)).isoformat(),
                    "service_id": "mobile",
                    "user_id": f"{holder}-msisdn",
                    "properties": properties,
                }
            )
    return found


@pytest.mark.parametrize("database", DATABASES)
@pytest.mark.parametrize("mode", [RatingMode.DAY_SUBSCRIPTION_FIRST_FAIL, RatingMode.SUBSCRIPTION_MOST])
def test_several_vectorized_chunks_carry_counters_and_balances(
    tmp_path: Path, database: str, mode: RatingMode, caplog: pytest.LogCaptureFixture
) -> None:
    rows = many(400)  # 150 CDRs per vectorized chunk with chunk_cdrs=3: three chunks per contract, four for the family.
    auto, row, logged = both_paths(database, tmp_path, rows, mode, caplog, chunk_cdrs=3, free_seconds=4000, alice_balance="1000.00")

    assert fallbacks(logged) == []
    assert vectorized(logged) == len(rows)
    assert_same(auto, row)
    statuses = [status for status, *_ in row["cdrs"].values()]
    assert statuses.count("failed") == 1
    assert statuses.count("skipped") == (199 if mode is RatingMode.DAY_SUBSCRIPTION_FIRST_FAIL else 0)


@pytest.mark.parametrize("database", DATABASES)
@pytest.mark.parametrize("mode", [RatingMode.DAY_SUBSCRIPTION_FIRST_FAIL, RatingMode.SUBSCRIPTION_MOST])
def test_a_balance_that_runs_dry_in_a_later_chunk_hands_the_rest_to_the_row_path(
    tmp_path: Path, database: str, mode: RatingMode, caplog: pytest.LogCaptureFixture
) -> None:
    rows = many(400)  # alice spends about 60 EUR in her first 150 CDRs, then runs dry in her second chunk.
    auto, row, logged = both_paths(database, tmp_path, rows, mode, caplog, chunk_cdrs=3, free_seconds=4000, alice_balance="70.00")

    assert [message for message in fallbacks(logged) if "alice" in message], logged
    assert len(rows) - 400 < vectorized(logged) < len(rows)  # alice's first chunk and the others' CDRs, not alice's rest
    assert_same(auto, row)
    assert "prepaid_balance_cannot_cover" in {code for _, _, _, code, *_ in row["cdrs"].values()}


# ---- the example catalog: monthly resets in Paris, minutes, alike allowances in a prefix ------------

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# More usage of alice (prepaid_classic), bob and carol (postpaid_smart, paid by bob's account): national calls that
# use up the free minutes, data past the first band, and both again after midnight in Paris on the first of July.
EXAMPLE_CDRS = """
x01 33612345678 voice_call 2026-06-10T08:00:00+00:00 duration=1750 destination=33140000000
x02 33612345678 voice_call 2026-06-10T09:00:00+00:00 duration=95 destination=33640000000
x03 33612345678 data_session 2026-06-11T09:00:00+00:00 volume=499950001
x04 33612345678 data_session 2026-06-11T10:00:00+00:00 volume=100001
x05 33687654321 voice_call 2026-06-20T10:00:00+00:00 duration=17999 destination=33740000000
x06 33698765432 voice_call 2026-06-20T11:00:00+00:00 duration=61 destination=33140000000
x07 33698765432 data_session 2026-06-30T21:00:00+00:00 volume=2100000000
x08 33612345678 voice_call 2026-06-30T21:59:59+00:00 duration=120 destination=33140000000
x09 33612345678 voice_call 2026-06-30T22:00:00+00:00 duration=120 destination=33140000000
x10 33698765432 data_session 2026-06-30T22:00:01+00:00 volume=1000000
x11 33687654321 voice_call 2026-07-01T07:00:00+00:00 duration=45 destination=4912345
x12 33612345678 sms 2026-07-01T07:00:00+00:00 zone=international
"""


def example_records() -> list[dict[str, Any]]:
    found = []
    for line in filter(None, map(str.strip, EXAMPLE_CDRS.splitlines())):
        cdr_id, user_id, item_class, at, *pairs = line.split()
        properties = dict(pair.split("=", 1) for pair in pairs)
        found.append(
            {
                "id": cdr_id,
                "item_class": item_class,
                "consumption_date": at,
                "service_id": "mobile",
                "user_id": user_id,
                "properties": properties,
            }
        )
    return found


@contextmanager
def example_run(database: str, tmp_path: Path, mode: RatingMode, path: RatingPath) -> Iterator[dict[str, Any]]:
    directory = tmp_path / f"example-{path.value}-{next(counter)}"
    directory.mkdir()
    with (
        fresh_database(database, directory) as url,
        Engine(url, clock=FixedClock(), new_id=SequentialIds("id")) as engine,
    ):
        engine.load_catalog(parse_document((EXAMPLES / "catalog.yaml").read_text(encoding="utf-8"), source="catalog.yaml"))
        engine.load_master_data(EXAMPLES / "master-data.yaml")
        engine.import_cdr_file(EXAMPLES / "cdrs.csv")
        engine.import_cdrs(enumerate(example_records(), start=1), strict=True)
        engine.run_rating_job(engine.start_rating_job(mode), path=path)
        yield snapshot(engine)


@pytest.mark.parametrize("database", DATABASES)
@pytest.mark.parametrize("mode", MODES)
def test_the_example_catalog_takes_the_vectorized_path_and_leaves_what_the_row_path_leaves(
    tmp_path: Path, database: str, mode: RatingMode, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger=LOGGER), example_run(database, tmp_path, mode, RatingPath.AUTO) as auto:
        logged = [record for record in caplog.records if record.name == LOGGER]
    with example_run(database, tmp_path, mode, RatingPath.ROW) as row:
        pass

    assert_same(auto, row)
    # Every CDR of alice, bob and carol (monthly counters in Paris, in minutes) is priced column-wise, and so are the
    # family's (a linked contract, a shared counter, calls priced by a schedule, a payer with a low-balance threshold);
    # only the CDR without access takes the row path.
    without_access = {"cdr-0008"}
    assert vectorized(logged) == len(row["cdrs"]) - len(without_access), logged
    notes = [note["kind"] for found in row["notifications"].values() for note in found]
    assert "allowance_exhausted" in notes
    periods = {values[2] for values in row["counters"].values()}
    assert datetime(2026, 6, 30, 22, tzinfo=UTC) in periods, periods


# ---- the vectorized job against Engine.charge, item after item ------------------------------------

CONTRACT_OF = {holder: f"{holder}-contract" for holder in HOLDER_NAMES}


def charged_one_by_one(
    database: str, tmp_path: Path, rows: list[dict[str, Any]], mode: RatingMode, *, linked: bool = False
) -> tuple[dict[str, Any], dict[str, str]]:
    """What charging each CDR with ``Engine.charge`` leaves, in the job's order and with its mode's rule applied by
    hand (first-fail: a contract's CDRs after its first refusal are skipped), and each CDR's status."""
    ordered = sorted(rows, key=lambda row: (datetime.fromisoformat(row["consumption_date"]), row["id"]))
    if mode in (RatingMode.SUBSCRIPTION_FIRST_FAIL, RatingMode.SUBSCRIPTION_MOST):
        ordered.sort(key=lambda row: CONTRACT_OF[row["user_id"].removesuffix("-msisdn")])
    statuses: dict[str, str] = {}
    stopped: set[str] = set()
    directory = tmp_path / f"single-{next(counter)}"
    directory.mkdir()
    with fresh_database(database, directory) as url, Engine(url, clock=FixedClock(), new_id=SequentialIds("one")) as single:
        build(single, linked=linked)
        for row in ordered:
            contract = CONTRACT_OF[row["user_id"].removesuffix("-msisdn")]
            if mode.value.endswith("FIRST_FAIL") and contract in stopped:
                statuses[row["id"]] = "skipped"
                continue
            at = datetime.fromisoformat(row["consumption_date"])
            item = ChargeableItem(row["item_class"], at, row["service_id"], row["user_id"], row["properties"])
            try:
                single.charge(item, idempotency_key=row["id"])
            except KopekError:
                statuses[row["id"]] = "failed"
                stopped.add(contract)
            else:
                statuses[row["id"]] = "charged"
        return snapshot(single), statuses


COMPARED_WITH_SINGLE_CHARGES = (
    "charged_items",
    "account_operations",
    "notifications",
    "balances",
    "counters",
    "shared_counters",
    "counter_journal",
)


@pytest.mark.parametrize("database", DATABASES)
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=st.lists(cdr_strategy, min_size=1, max_size=40), mode=st.sampled_from(MODES), linked=st.booleans())
def test_a_vectorized_job_equals_single_charges_item_after_item(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    database: str,
    drawn: list[tuple[str, int, tuple[str, dict[str, str]]]],
    mode: RatingMode,
    linked: bool,
) -> None:
    # With ``linked``, dave's contract is carol's child: his data moves her counter, in the job as one by one.
    rows = generated(drawn)
    expected, statuses = charged_one_by_one(database, tmp_path, rows, mode, linked=linked)
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger=LOGGER), job_run(database, tmp_path, rows, mode, RatingPath.AUTO, linked=linked) as job:
        logged = [record for record in caplog.records if record.name == LOGGER]

    assert {cdr_id: status for cdr_id, (status, *_) in job["cdrs"].items()} == statuses
    assert_same({name: job[name] for name in COMPARED_WITH_SINGLE_CHARGES}, {name: expected[name] for name in COMPARED_WITH_SINGLE_CHARGES})
    assert vectorized(logged) == len(rows), fallbacks(logged)


# ---- late CDRs: a stored counter's period is later than the CDRs' ------------------------------------

LATER_CDRS = """
a01 alice call 2026-07-02T08:00:00+00:00 duration=100 destination=33123
a02 alice sms  2026-07-02T08:01:00+00:00 destination=1
a03 alice data 2026-07-02T08:02:00+00:00 volume=60000000
b01 bob   call 2026-07-02T09:00:00+00:00 duration=30 destination=33123
"""
LATE_CDRS = """
a11 alice call 2026-06-30T08:00:00+00:00 duration=15 destination=33123
a12 alice sms  2026-06-30T08:01:00+00:00 destination=1
a13 alice data 2026-06-29T08:02:00+00:00 volume=50000000
a14 alice call 2026-07-02T10:00:00+00:00 duration=10 destination=33123
b11 bob   call 2026-06-01T09:00:00+00:00 duration=200 destination=33123
b12 bob   call 2026-07-03T09:00:00+00:00 duration=20 destination=33123
"""


@pytest.mark.parametrize("database", DATABASES)
@pytest.mark.parametrize("mode", [RatingMode.DAY_MOST, RatingMode.SUBSCRIPTION_FIRST_FAIL])
def test_late_cdrs_count_in_the_stored_period_on_both_paths(
    tmp_path: Path, database: str, mode: RatingMode, caplog: pytest.LogCaptureFixture
) -> None:
    left = []
    caplog.clear()
    for path in (RatingPath.AUTO, RatingPath.ROW):
        directory = tmp_path / f"late-{path.value}"
        directory.mkdir()
        with (
            fresh_database(database, directory) as url,
            Engine(url, clock=FixedClock(), new_id=SequentialIds("id")) as engine,
            caplog.at_level(logging.DEBUG, logger=LOGGER),
        ):
            build(engine)
            for cdr_lines in (LATER_CDRS, LATE_CDRS):
                rows = records(cdr_lines)
                engine.import_cdrs(enumerate(rows, start=1), strict=True)
                engine.run_rating_job(engine.start_rating_job(mode), path=path)
            left.append(snapshot(engine))
            if path is RatingPath.AUTO:
                logged = [record for record in caplog.records if record.name == LOGGER]
    auto, row = left

    assert vectorized(logged) == len(row["cdrs"]), fallbacks(logged)
    assert_same(auto, row)
    # alice's free seconds, stored in July's period, are still July's after her late June call.
    assert row["counters"][("alice-contract", "main", "free_seconds")][2] == datetime(2026, 6, 30, 22, tzinfo=UTC)


# ---- counters of several contracts: a parent's, kept for its linked child, and one shared in a namespace ----------

FAMILY_CATALOG = """
item_classes:
  - name: voice_call
    quantity: duration
    properties:
      - {name: duration, type: decimal, unit: seconds}
      - {name: destination, type: string}
  - name: sms
    quantity: count
    properties:
      - {name: count, type: integer, unit: events, default: 1}
      - {name: destination, type: string}
  - name: data_session
    quantity: volume
    properties:
      - {name: volume, type: integer, unit: bytes}
charge_plans:
  - name: family
    currency: EUR
    counters:
      - name: family_minutes
        scope: shared
        namespace: clan
        unit: minutes
        initial: 5
        reset: monthly
        time_zone: Europe/Paris
        thresholds: [{value: 2, direction: down}]
      - name: family_sms
        scope: shared
        namespace: clan
        unit: events
        reset: daily
        time_zone: Asia/Tokyo
        thresholds: [{value: 3, direction: up}]
      - name: family_data
        scope: contract
        unit: megabytes
        reset: monthly
        time_zone: Europe/Paris
        thresholds: [{value: 100, direction: up}]
    charges:
      - name: voice
        item_class: voice_call
        account_role: payer
        rounding: {decimals: 2, mode: half_up}
        price:
          type: allowance
          counter: family_minutes
          then:
            type: prefix
            property: destination
            prefixes:
              "999": {type: no_access, message: premium numbers are barred}
            default: {type: rate, amount: "0.60", unit: minutes, increment: 1}
      - name: sms
        item_class: sms
        account_role: payer
        rounding: {decimals: 3, mode: half_up}
        price:
          type: tiers
          counter: family_sms
          bands:
            - {up_to: 3, price: {type: flat, amount: "0"}}
            - price: {type: flat, amount: "0.125"}
        counter_updates:
          - {counter: family_sms, add: one}
      - name: data
        item_class: data_session
        account_role: payer
        rounding: {decimals: 4, mode: ceiling}
        price:
          type: tiers
          counter: family_data
          bands:
            - {up_to: 100, price: {type: rate, amount: "0.01", unit: megabytes}}
            - price: {type: rate, amount: "0.005", unit: megabytes, per: 3}
        counter_updates:
          - {counter: family_data, add: quantity}
"""

# contract, subscriber account, its account (none: it has none), parent, payer account
FAMILY = (
    ("pa", {"id": "pa-prepaid", "kind": "prepaid", "initial_balance": "100.00"}, None, "pa-prepaid"),
    ("ch", None, "pa", "pa-prepaid"),
    ("x1", {"id": "x1-postpaid", "kind": "postpaid", "credit_limit": "500"}, None, "x1-postpaid"),
    ("x2", {"id": "x2-prepaid", "kind": "prepaid", "initial_balance": "30.00"}, None, "x2-prepaid"),
)


# A second plan of the namespace whose pool of minutes has another threshold: the row path notifies the thresholds of
# the plan of the CDR's contract.
OTHER_POOL_PLAN = (
    FAMILY_CATALOG.split("charge_plans:\n")[1]
    .replace("name: family\n", "name: family_b\n")
    .replace("[{value: 2, direction: down}]", "[{value: 1, direction: down}]")
)


def family_world(engine: Engine, *, x2_plan: str = "family") -> None:
    """pa's contract and its linked child ch (paid by pa's prepaid account) keep one ``family_data``, pa's; x1 and x2
    keep their own. All four share ``family_minutes`` and ``family_sms`` in the namespace ``clan``."""
    engine.load_catalog(parse_document(FAMILY_CATALOG + OTHER_POOL_PLAN, source="family.yaml"))
    for holder, account, parent, payer in FAMILY:
        engine.create_subscriber_account(
            SubscriberAccountInput.model_validate({"id": holder, "currency": "EUR", "accounts": [account] if account else []})
        )
        contract = {
            "id": f"{holder}-contract",
            "subscriber_account_id": holder,
            "valid_from": START.isoformat(),
            "items": [{"id": "main", "charge_plan": x2_plan if holder == "x2" else "family"}],
            "roles": {"payer": payer},
        }
        engine.create_contract(ContractInput.model_validate(contract | ({"parent_id": f"{parent}-contract"} if parent else {})))
        engine.create_access(
            AccessInput.model_validate(
                {
                    "service_id": "mobile",
                    "user_id": f"{holder}-msisdn",
                    "contract_id": f"{holder}-contract",
                    "valid_from": START.isoformat(),
                }
            )
        )


# The child's contract id sorts before its parent's: contract by contract, ch's June and July come before pa's June.
# Midnight in Paris on the first of July is 22:00 UTC on 30 June; a day in Tokyo starts at 15:00 UTC.
FAMILY_CDRS = """
p01 pa call 2026-06-01T08:00:00+00:00 duration=150 destination=33123
c01 ch call 2026-06-01T08:01:00+00:00 duration=100 destination=33123
x01 x1 call 2026-06-01T08:02:00+00:00 duration=90 destination=44
p02 pa data 2026-06-01T09:00:00+00:00 volume=60000000
c02 ch data 2026-06-01T09:01:00+00:00 volume=50000001
x02 x2 data 2026-06-01T09:02:00+00:00 volume=70000000
c03 ch sms  2026-06-01T10:00:00+00:00 destination=1
p03 pa sms  2026-06-01T10:01:00+00:00 destination=1
x03 x1 sms  2026-06-01T10:02:00+00:00 destination=1
x04 x2 sms  2026-06-01T10:03:00+00:00 destination=1
c04 ch sms  2026-06-01T14:59:00+00:00 destination=1
p04 pa sms  2026-06-01T15:00:00+00:00 destination=1
c05 ch call 2026-06-02T07:00:00+00:00 duration=61 destination=99912
c06 ch call 2026-06-02T07:05:00+00:00 duration=30 destination=33123
x05 x2 call 2026-06-02T07:10:00+00:00 duration=45 destination=33123
p05 pa call 2026-06-30T21:59:00+00:00 duration=120 destination=33123
c07 ch data 2026-06-30T21:59:30+00:00 volume=1000000
c08 ch call 2026-06-30T22:00:00+00:00 duration=200 destination=33123
p06 pa data 2026-06-30T22:01:00+00:00 volume=99000000
c09 ch data 2026-06-30T22:02:00+00:00 volume=3000000
x06 x1 call 2026-06-30T22:03:00+00:00 duration=40 destination=33123
x07 x2 sms  2026-07-01T01:00:00+00:00 destination=1
p07 pa call 2026-07-01T08:00:00+00:00 duration=30 destination=33123
"""


@contextmanager
def family_run(
    database: str, tmp_path: Path, rows: list[dict[str, Any]], mode: RatingMode, path: RatingPath, **world: str
) -> Iterator[Engine]:
    directory = tmp_path / f"family-{path.value}-{next(counter)}"
    with imported(database, directory, rows, lambda engine: family_world(engine, **world)) as engine:
        yield engine


@pytest.mark.parametrize("database", DATABASES)
@pytest.mark.parametrize("mode", MODES)
def test_a_parents_and_a_shared_counter_take_the_vectorized_path_and_leave_what_the_row_path_leaves(
    tmp_path: Path, database: str, mode: RatingMode
) -> None:
    rows = records(FAMILY_CDRS)
    left, paths = [], []
    for path in (RatingPath.AUTO, RatingPath.ROW):
        with family_run(database, tmp_path, rows, mode, path) as engine:
            status = engine.run_rating_job(engine.start_rating_job(mode), path=path)
            paths.append([(found.path, found.reason, found.count) for found in status.paths])
            left.append(snapshot(engine))
    auto, row = left

    assert paths == [[("vectorized", None, len(rows))], [("row", "row_path_requested", len(rows))]]
    assert_same(auto, row)
    assert {status for status, *_ in row["cdrs"].values()} >= {"charged", "failed"}
    # ch's data moved pa's family_data (ch keeps none of its own); x1 and x2 keep their own; the namespace one pool.
    assert ("ch-contract", "", "family_data") not in row["counters"]
    assert {("clan", "family_minutes"), ("clan", "family_sms")} == set(row["shared_counters"])
    july = datetime(2026, 6, 30, 22, tzinfo=UTC)
    assert row["counters"][("pa-contract", "", "family_data")][2] == july
    crossed = {
        note["data"].get("counter") for found in row["notifications"].values() for note in found if note["kind"] == "threshold_crossed"
    }
    assert {"family_minutes", "family_sms", "family_data"} <= crossed, crossed


@pytest.mark.parametrize("database", DATABASES)
@pytest.mark.parametrize("mode", [RatingMode.DAY_MOST, RatingMode.SUBSCRIPTION_FIRST_FAIL])
def test_a_parents_and_a_shared_counter_are_carried_across_vectorized_chunks(tmp_path: Path, database: str, mode: RatingMode) -> None:
    # One CDR a chunk, so 20 a vectorized chunk: the second starts from the counters and balances the first stored.
    rows = records(FAMILY_CDRS)
    left, paths = [], []
    for path in (RatingPath.AUTO, RatingPath.ROW):
        with family_run(database, tmp_path, rows, mode, path) as engine:
            status = engine.run_rating_job(engine.start_rating_job(mode), path=path, chunk_cdrs=1)
            paths.append([(found.path, found.count) for found in status.paths])
            left.append(snapshot(engine))

    assert paths[0] == [("vectorized", len(rows))]
    assert_same(*left)


@pytest.mark.parametrize("database", DATABASES)
def test_a_shared_counter_two_plans_declare_otherwise_takes_the_row_path(tmp_path: Path, database: str) -> None:
    rows = records(FAMILY_CDRS)
    left, paths = [], []
    for path in (RatingPath.AUTO, RatingPath.ROW):
        with family_run(database, tmp_path, rows, RatingMode.DAY_MOST, path, x2_plan="family_b") as engine:
            status = engine.run_rating_job(engine.start_rating_job(RatingMode.DAY_MOST), path=path)
            paths.append([(found.path, found.reason, found.count) for found in status.paths])
            left.append(snapshot(engine))

    assert paths[0] == [("row", "counter_not_columnar", len(rows))]
    assert_same(*left)
