"""Offline charging on a real database (a SQLite file and a PostgreSQL schema, each test on both).

Prices are worked out by hand from the world's tariff (tests/worlds.py):

    voice_call  60 free seconds per contract item, then by destination prefix:
                33... 0.60 per started minute, 44... 0.02 per second, 999... barred
    sms         0.10 flat
    data        graduated: the first 100 MB at 0.01/MB, beyond at 0.005/MB
    content     1.00 per pack of ``pack_size`` events
    rounding    2 decimals, half up, per charge
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from kopek import (
    Category,
    ChargeableItem,
    Code,
    ContractUpdate,
    Engine,
    KopekError,
    Reason,
    ResultOptions,
    SubscriberAccountUpdate,
)
from kopek.admin.views import CounterView
from kopek.domain.master import SubscriberAccountStatus
from tests.integration.support import add_subscriber, charged_rows, operation_count, operations_sum, snapshot
from tests.worlds import AT, balance, build_world, call


def cdr(user: str, line: str, *, at: datetime = AT) -> ChargeableItem:
    """A chargeable item from readable text: ``item_class name=value name=value ...``."""
    item_class, *pairs = line.split()
    return ChargeableItem(item_class, at, "mobile", user, dict(pair.split("=", 1) for pair in pairs))


def table(text: str) -> list[list[str]]:
    """The rows of a ``|``-separated table written in a test, header and comments left out."""
    lines = [line for line in text.strip().splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [[cell.strip() for cell in line.split("|")] for line in lines[1:]]


@pytest.fixture
def world(engine: Engine) -> Engine:
    build_world(engine)
    return engine


# ---- hand-computed charges ------------------------------------------------------------------

SINGLE_CHARGES = """
item                                            | amount | free seconds left | rule
voice_call duration=25 destination=33123        |   0.00 |  35 | the allowance covers the whole call
voice_call duration=60 destination=33123        |   0.00 |   0 | the allowance covers exactly the call
voice_call duration=90 destination=33123        |   0.60 |   0 | 60 s free, 30 s billed as one started minute
voice_call duration=181 destination=33123       |   1.80 |   0 | 60 s free, 121 s billed as three started minutes
voice_call duration=90 destination=44207        |   0.60 |   0 | 60 s free, 30 s at 0.02 per second
voice_call duration=60.5 destination=44207      |   0.01 |   0 | 0.5 s at 0.02 per second
voice_call duration=0 destination=33123         |   0.00 |  60 | a call of no duration costs nothing
sms destination=33612345678                     |   0.10 |  60 | flat price, the allowance untouched
data_session volume=1500000                     |   0.02 |  60 | 1.5 MB at 0.01 is 0.015, rounded half up
data_session volume=100000000                   |   1.00 |  60 | exactly the first band
data_session volume=150000000                   |   1.25 |  60 | 100 MB at 0.01 then 50 MB at 0.005
data_session volume=1000000000                  |   5.50 |  60 | 100 MB at 0.01 then 900 MB at 0.005
content units=3 pack_size=2                     |   1.50 |  60 | 1.00 per pack of 2 events
content units=1 pack_size=3                     |   0.33 |  60 | a third of a pack, rounded half up
"""


@pytest.mark.parametrize(
    ("line", "amount", "free_left"), [pytest.param(row[0], row[1], row[2], id=row[3]) for row in table(SINGLE_CHARGES)]
)
def test_charge_costs_the_hand_computed_amount(world: Engine, line: str, amount: str, free_left: str) -> None:
    result = world.charge(cdr("bob-msisdn", line))

    assert result.charged_items is not None
    assert [charged.amount for charged in result.charged_items] == [Decimal(amount)]
    assert balance(world, "bob-postpaid") == Decimal(amount)
    counters = {counter.name: counter.value for counter in world.contract("bob-contract").counters}
    assert counters.get("free_seconds", Decimal(60)) == Decimal(free_left)


SERIES = """
item                                            | amount | rule
voice_call duration=30 destination=33123        |   0.00 | 30 of the 60 free seconds
voice_call duration=45 destination=33123        |   0.60 | the last 30 free seconds, then 15 s as one started minute
voice_call duration=61 destination=33123        |   1.20 | no allowance left: two started minutes
voice_call duration=61 destination=44207        |   1.22 | 61 s at 0.02 per second
sms destination=33612345678                     |   0.10 | flat
data_session volume=150000000                   |   1.25 | 100 MB at 0.01 then 50 MB at 0.005
data_session volume=1500000                     |   0.02 | 0.015 rounded half up
content units=3 pack_size=2                     |   1.50 | 1.00 per pack of 2 events
voice_call duration=1 destination=33123         |   0.60 | one second is a started minute
"""


@pytest.mark.parametrize(
    ("user", "account_id", "sign", "kind"),
    [
        pytest.param("alice-msisdn", "alice-prepaid", Decimal(-1), "debit", id="prepaid-debits"),
        pytest.param("bob-msisdn", "bob-postpaid", Decimal(1), "accumulation", id="postpaid-accumulates"),
    ],
)
def test_balance_equals_opening_plus_charges_and_the_sum_of_its_operations(
    world: Engine, user: str, account_id: str, sign: Decimal, kind: str
) -> None:
    opening = balance(world, account_id)
    charged = Decimal(0)
    for line, amount, _rule in table(SERIES):
        result = world.charge(cdr(user, line))
        assert result.charged_items is not None
        assert result.charged_items[0].amount == Decimal(amount), line
        charged += Decimal(amount)
        assert balance(world, account_id) == opening + sign * charged
        assert balance(world, account_id) == operations_sum(world, account_id)

    assert charged == Decimal("6.49")
    operations = world.account_operations(account_id)
    charge_operations = [operation for operation in operations if operation.operation_id is not None]
    assert {operation.kind for operation in charge_operations} == {kind}
    assert len(charge_operations) == len(table(SERIES)) - 1  # the free call moves no money
    assert operations[-1].balance_after == balance(world, account_id)
    assert operation_count(world) == len(table(SERIES))


def test_postpaid_accumulates_up_to_its_credit_limit_exactly(world: Engine) -> None:
    # 60 s free then 166 minutes at 0.60 = 99.60, three SMS to 99.90; one more SMS reaches the limit exactly.
    world.charge(cdr("bob-msisdn", "voice_call duration=10020 destination=33123"))
    for _ in range(3):
        world.charge(cdr("bob-msisdn", "sms destination=33612345678"))
    assert balance(world, "bob-postpaid") == Decimal("99.90")
    world.charge(cdr("bob-msisdn", "sms destination=33612345678"))
    assert balance(world, "bob-postpaid") == Decimal("100.00")
    with pytest.raises(KopekError) as refused:
        world.charge(cdr("bob-msisdn", "sms destination=33612345678"))
    assert refused.value.code is Code.CREDIT_LIMIT_REACHED
    assert balance(world, "bob-postpaid") == operations_sum(world, "bob-postpaid") == Decimal("100.00")


def test_prepaid_may_be_debited_down_to_its_floor_exactly(world: Engine) -> None:
    # 10.00 = 60 free seconds, then 500 s at 0.02 per second.
    world.charge(cdr("alice-msisdn", "voice_call duration=560 destination=44207"))
    assert balance(world, "alice-prepaid") == Decimal("0.00")
    with pytest.raises(KopekError) as refused:
        world.charge(cdr("alice-msisdn", "sms destination=33612345678"))
    assert refused.value.code is Code.INSUFFICIENT_BALANCE


# ---- counters -------------------------------------------------------------------------------


def test_counters_are_stored_and_read_back_by_a_fresh_engine(world: Engine) -> None:
    world.charge(call(seconds="25"))
    expected = [
        CounterView(
            scope="contract_item",
            item_id="main",
            period_start=None,
            expires_at=None,
            name="free_seconds",
            unit="seconds",
            value=Decimal(35),
        )
    ]
    assert world.contract("alice-contract").counters == expected

    with Engine(world.url, create_schema=False) as reopened:
        assert reopened.contract("alice-contract").counters == expected
        # The stored counter prices the next call: 35 s free, 5 s billed as a started minute.
        result = reopened.charge(call(seconds="40"))
        assert result.charged_items is not None
        assert result.charged_items[0].amount == Decimal("0.60")
    assert world.contract("alice-contract").counters == [
        CounterView(
            scope="contract_item", item_id="main", period_start=None, expires_at=None, name="free_seconds", unit="seconds", value=Decimal(0)
        )
    ]


def test_counters_belong_to_their_contract(world: Engine) -> None:
    world.charge(call("alice-msisdn", seconds="50"))
    world.charge(call("bob-msisdn", seconds="20"))
    assert [counter.value for counter in world.contract("alice-contract").counters] == [Decimal(10)]
    assert [counter.value for counter in world.contract("bob-contract").counters] == [Decimal(40)]


def test_an_item_that_touches_no_counter_stores_none(world: Engine) -> None:
    world.charge(cdr("alice-msisdn", "sms destination=33612345678"))
    assert world.contract("alice-contract").counters == []


# ---- what a charge persists -------------------------------------------------------------------


def test_charged_items_account_operations_and_notifications_are_persisted(world: Engine) -> None:
    options = ResultOptions(account_operations=True, notifications=True, charging_process_info=True)
    result = world.charge(call(seconds="90"), options, sender_job_id="job-7")

    assert result.charging_process_info is not None
    assert result.charging_process_info.sender_job_id == "job-7"
    [row] = charged_rows(world, "alice-contract")
    assert row["operation_id"] == result.operation_id
    assert (row["item_class"], row["charge_plan"], row["charge"], row["contract_item_id"]) == ("voice_call", "mobile", "voice", "main")
    assert (row["account_role"], row["account_id"]) == ("payer", "alice-prepaid")
    assert (row["amount"], row["currency"], row["quantity"], row["quantity_unit"], row["output"]) == (
        Decimal("0.60"),
        "EUR",
        Decimal(90),
        "seconds",
        "both",
    )
    assert row["consumption_date"] == AT

    opening, debit = world.account_operations("alice-prepaid")
    assert (opening.kind, opening.amount, opening.balance_after, opening.operation_id) == (
        "opening",
        Decimal("10.00"),
        Decimal("10.00"),
        None,
    )
    assert (debit.kind, debit.amount, debit.balance_after, debit.operation_id) == (
        "debit",
        Decimal("-0.60"),
        Decimal("9.40"),
        result.operation_id,
    )
    assert debit.created_at == world.now()
    assert result.account_operations is not None
    assert [(op.account_id, op.kind, op.amount, op.balance_after) for op in result.account_operations] == [
        ("alice-prepaid", "debit", Decimal("-0.60"), Decimal("9.40"))
    ]

    assert result.notifications is not None
    assert [note.kind for note in result.notifications] == ["allowance_exhausted"]
    stored = snapshot(world)["notifications"]
    assert len(stored) == 1
    assert result.operation_id in stored[0]
    assert operation_count(world) == 1


def test_export_option_records_the_chargeable_item(world: Engine) -> None:
    world.charge(call(seconds="10"), ResultOptions(export_chargeable_item=True))
    world.charge(call(seconds="10"))
    assert len(snapshot(world)["exported_items"]) == 1


# ---- refusals persist nothing -------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    item: ChargeableItem
    category: Category
    code: Code
    reason: Reason | None = None
    prepare: Callable[[Engine], object] = lambda engine: None


def _holder_status(status: SubscriberAccountStatus) -> Callable[[Engine], object]:
    return lambda engine: engine.update_subscriber_account("alice", SubscriberAccountUpdate(status=status))


def _contract(update: ContractUpdate) -> Callable[[Engine], object]:
    return lambda engine: engine.update_contract("alice-contract", update)


def _usd_subscriber(engine: Engine) -> object:
    return add_subscriber(engine, "dave", currency="USD", initial_balance="10.00")


REFUSALS = [
    pytest.param(
        Refusal(cdr("alice-msisdn", "fax pages=3"), Category.PREREQUISITE_MISSING, Code.ITEM_CLASS_UNKNOWN),
        id="unknown-item-class",
    ),
    pytest.param(
        Refusal(cdr("alice-msisdn", "voice_call destination=33123"), Category.INVALID, Code.PROPERTY_MISSING),
        id="missing-property",
    ),
    pytest.param(
        Refusal(cdr("alice-msisdn", "voice_call duration=twelve destination=33123"), Category.INVALID, Code.PROPERTY_INVALID),
        id="mistyped-property",
    ),
    pytest.param(
        Refusal(cdr("alice-msisdn", "data_session volume=1.5"), Category.INVALID, Code.PROPERTY_INVALID),
        id="decimal-for-an-integer-property",
    ),
    pytest.param(
        Refusal(cdr("alice-msisdn", "voice_call duration=120 destination=33123 colour=red"), Category.INVALID, Code.PROPERTY_UNKNOWN),
        id="unknown-property",
    ),
    pytest.param(
        Refusal(cdr("alice-msisdn", "voice_call duration=-5 destination=33123"), Category.INVALID, Code.QUANTITY_NEGATIVE),
        id="negative-quantity",
    ),
    pytest.param(
        Refusal(
            ChargeableItem("sms", AT.replace(tzinfo=None), "mobile", "alice-msisdn", {"destination": "33"}),
            Category.INVALID,
            Code.REQUEST_INVALID,
        ),
        id="naive-consumption-date",
    ),
    pytest.param(
        Refusal(
            cdr("nobody-msisdn", "voice_call duration=120 destination=33123"),
            Category.PREREQUISITE_MISSING,
            Code.ACCESS_NOT_FOUND,
            Reason.NOT_AUTHORIZED,
        ),
        id="unknown-access",
    ),
    pytest.param(
        Refusal(
            cdr("alice-msisdn", "voice_call duration=120 destination=33123", at=datetime(2025, 12, 31, 23, 59, tzinfo=AT.tzinfo)),
            Category.PREREQUISITE_MISSING,
            Code.ACCESS_NOT_FOUND,
            Reason.NOT_AUTHORIZED,
        ),
        id="access-not-yet-valid",
    ),
    pytest.param(
        Refusal(
            call(seconds="120"),
            Category.ILLEGAL_STATE,
            Code.CONTRACT_OUT_OF_VALIDITY,
            Reason.OUT_OF_VALIDITY_PERIOD,
            _contract(ContractUpdate(valid_to=AT - timedelta(days=1))),
        ),
        id="contract-ended",
    ),
    pytest.param(
        Refusal(
            call(seconds="120"),
            Category.ILLEGAL_STATE,
            Code.CONTRACT_OUT_OF_VALIDITY,
            Reason.OUT_OF_VALIDITY_PERIOD,
            _contract(ContractUpdate(valid_to=AT)),
        ),
        id="contract-ends-at-the-consumption-date",
    ),
    *(
        pytest.param(
            Refusal(call(seconds="120"), Category.ILLEGAL_STATE, code, reason, _holder_status(status)),
            id=f"subscriber-account-{status.value}",
        )
        for status, code, reason in (
            (SubscriberAccountStatus.BLOCKED, Code.ACCOUNT_BLOCKED, Reason.ACCOUNT_BLOCKED),
            (SubscriberAccountStatus.LOCKED, Code.ACCOUNT_LOCKED, Reason.ACCOUNT_LOCKED),
            (SubscriberAccountStatus.CLOSED, Code.ACCOUNT_CLOSED, Reason.ACCOUNT_CLOSED),
        )
    ),
    pytest.param(
        # 60 s free, then 540 s at 0.02 = 10.80 > 10.00: the allowance must not be consumed either.
        Refusal(call(seconds="600", destination="44207"), Category.ILLEGAL_STATE, Code.INSUFFICIENT_BALANCE, Reason.CANNOT_CHARGE_ACCOUNT),
        id="prepaid-cannot-cover",
    ),
    pytest.param(
        # 60 s free, then 10040 s = 168 started minutes at 0.60 = 100.80 > the 100.00 limit.
        Refusal(call("bob-msisdn", seconds="10100"), Category.ILLEGAL_STATE, Code.CREDIT_LIMIT_REACHED, Reason.CANNOT_CHARGE_ACCOUNT),
        id="postpaid-credit-limit",
    ),
    pytest.param(
        Refusal(
            call("dave-msisdn-0", seconds="120"),
            Category.INVALID_CONFIGURATION,
            Code.CURRENCY_MISMATCH,
            Reason.CANNOT_CHARGE_ACCOUNT,
            _usd_subscriber,
        ),
        id="currency-mismatch",
    ),
    pytest.param(
        Refusal(cdr("alice-msisdn", "content units=3 pack_size=0"), Category.INVALID_CONFIGURATION, Code.DIVISION_BY_ZERO),
        id="division-by-zero",
    ),
    pytest.param(
        # The barred prefix sits under the allowance: the 40 free seconds left stay unused.
        Refusal(call(seconds="120", destination="999123"), Category.ILLEGAL_STATE, Code.SERVICE_NOT_ACCESSIBLE, Reason.NOT_AUTHORIZED),
        id="no-access",
    ),
    pytest.param(
        Refusal(
            call(seconds="120"), Category.ILLEGAL_STATE, Code.CONTRACT_LOCKED, Reason.RECHARGING, _contract(ContractUpdate(status="locked"))
        ),
        id="contract-locked",
    ),
    pytest.param(
        Refusal(
            call(seconds="120"),
            Category.TEMPORARY_ILLEGAL_STATE,
            Code.CONTRACT_MIGRATING,
            None,
            _contract(ContractUpdate(status="migrating")),
        ),
        id="contract-migrating",
    ),
]


@pytest.mark.parametrize("case", REFUSALS)
def test_refused_charge_raises_its_error_and_persists_nothing(world: Engine, case: Refusal) -> None:
    # Some history first, so that "unchanged" is about rows that exist.
    world.charge(call("alice-msisdn", seconds="20"))
    world.charge(call("bob-msisdn", seconds="20"))
    case.prepare(world)
    before = snapshot(world)
    operations_before = operation_count(world)
    balances_before = {account: balance(world, account) for account in ("alice-prepaid", "bob-postpaid")}

    with pytest.raises(KopekError) as refused:
        world.charge(case.item, ResultOptions(notifications_on_error=True), idempotency_key="refused-1")

    error = refused.value
    assert (error.category, error.reason, error.code) == (case.category, case.reason, case.code)
    assert error.as_dict()["code"] == case.code.value
    assert snapshot(world) == before
    assert operation_count(world) == operations_before
    assert {account: balance(world, account) for account in balances_before} == balances_before


def test_migrating_contract_tells_when_to_retry(world: Engine) -> None:
    world.update_contract("alice-contract", ContractUpdate(status="migrating"))
    with pytest.raises(KopekError) as refused:
        world.charge(call())
    assert refused.value.retry_after_seconds is not None and refused.value.retry_after_seconds > 0


def test_no_access_error_carries_its_notification(world: Engine) -> None:
    with pytest.raises(KopekError) as refused:
        world.charge(call(destination="999123"))
    assert [note.message for note in refused.value.notifications][-1] == "premium numbers are barred"


def test_a_refusal_does_not_disturb_the_next_charge(world: Engine) -> None:
    with pytest.raises(KopekError):
        world.charge(call(seconds="600", destination="44207"))
    result = world.charge(call(seconds="90"))
    assert result.charged_items is not None
    assert result.charged_items[0].amount == Decimal("0.60")
    assert balance(world, "alice-prepaid") == Decimal("9.40") == operations_sum(world, "alice-prepaid")


def test_barred_destination_is_refused_even_when_the_allowance_would_cover_it(world: Engine) -> None:
    before = snapshot(world)
    with pytest.raises(KopekError) as refused:
        world.charge(call(seconds="30", destination="999123"))
    assert refused.value.code is Code.SERVICE_NOT_ACCESSIBLE
    assert snapshot(world) == before
