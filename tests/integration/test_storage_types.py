"""Exact values through both databases: decimals keep every digit, datetimes keep their instant.

PostgreSQL stores amounts as NUMERIC without scale, SQLite as exact decimal text; counter
values are exact text on both (a decimal, or n/d); instants are stored in UTC (SQLite:
fixed-width ISO text). Nothing may go through a binary float or the 28-digit default
decimal context on the way.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction

import pytest
import sqlalchemy as sa

from kopek import AccessInput, AdjustmentInput, ChargeableItem, ContractInput, Engine, KopekError, SubscriberAccountInput
from kopek.documents import parse_document
from kopek.domain.accounts import AccountOperation, OperationKind
from kopek.domain.master import Account, AccountId, AccountKind, SubscriberAccount, SubscriberAccountId
from kopek.domain.units import Unit
from kopek.money import exact_text, to_text
from kopek.rating.outcome import CounterChange, CounterKey
from kopek.store.uow import UnitOfWork
from tests.integration.support import charged_rows, exact_sum, operations_sum
from tests.worlds import AT, START, build_world

AMOUNTS = [
    pytest.param("0.000000000000000000001", id="21-decimals"),
    pytest.param("123456789012345678901234567890", id="30-digit-integer"),
    pytest.param("-123456789012345678901234567890.123456789", id="39-digits-negative"),
    pytest.param("99999999999999999999999999999999999999", id="38-nines"),
    pytest.param("0.1000000000000000000000000000000000001", id="37-decimals"),
    pytest.param("10.00", id="trailing-zeros-kept"),
    pytest.param("0", id="zero"),
]


@pytest.mark.parametrize("text", AMOUNTS)
def test_amounts_round_trip_exactly_through_every_decimal_column(engine: Engine, text: str) -> None:
    amount = Decimal(text)
    holder = SubscriberAccount(SubscriberAccountId("zoe"), "EUR")
    account = Account(AccountId("zoe-prepaid"), holder.id, AccountKind.PREPAID, "EUR", balance=amount, floor=amount, credit_limit=amount)
    engine.load_catalog(parse_document(BIG_CATALOG, source="big.yaml"))
    with UnitOfWork(engine.database) as uow:
        uow.master.insert_subscriber_account(holder, at=AT)
        uow.master.insert_account(account)
        uow.master.insert_account_operations(
            [AccountOperation(account.id, OperationKind.ADJUSTMENT, amount, amount, "EUR")], operation_id=None, at=AT
        )
        uow.commit()
    engine.create_contract(_contract("zoe-contract", "zoe", "zoe-prepaid"))
    with UnitOfWork(engine.database) as uow:
        key = CounterKey("zoe-contract", "main", "units_used")
        uow.counters.write([CounterChange(key, Unit.EVENTS, Decimal(0), amount)])
        uow.commit()

    stored = engine.account("zoe-prepaid")
    [operation] = engine.account_operations("zoe-prepaid")
    [counter] = engine.contract("zoe-contract").counters
    for read in (stored.balance, stored.floor, stored.credit_limit, operation.amount, operation.balance_after):
        assert isinstance(read, Decimal)
        assert read == amount
        assert to_text(read) == to_text(amount)
    # A counter value is an exact number, kept by value (its canonical text has no trailing zeros).
    assert isinstance(counter.value, int | Fraction)
    assert counter.value == amount
    assert exact_text(counter.value) == exact_text(amount)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        pytest.param(Fraction(1, 3), "1/3", id="a-third"),
        pytest.param(Fraction(-335, 12), "-335/12", id="negative-twelfths"),
        pytest.param(Fraction(10**37 + 1, 7), f"{10**37 + 1}/7", id="38-digit-numerator"),
        pytest.param(Fraction(5, 8), "0.625", id="finite-decimal"),
        pytest.param(42, "42", id="integer"),
    ],
)
def test_counter_values_without_a_finite_decimal_expansion_round_trip_exactly(engine: Engine, value: Fraction | int, text: str) -> None:
    engine.load_catalog(parse_document(BIG_CATALOG, source="big.yaml"))
    engine.create_subscriber_account(SubscriberAccountInput.model_validate({"id": "zoe", "currency": "EUR", "accounts": []}))
    engine.create_contract(_contract("zoe-contract", "zoe", None))
    key = CounterKey("zoe-contract", "main", "units_used")
    with UnitOfWork(engine.database) as uow:
        uow.counters.write([CounterChange(key, Unit.EVENTS, 0, value)])
        uow.commit()
    with UnitOfWork(engine.database) as uow:
        values, _ = uow.counters.of_contract("zoe-contract")
        raw = uow.connection.execute(sa.text("SELECT value FROM counters")).scalar_one()

    assert values[key] == value and type(values[key]) is type(value)
    assert raw == text


BIG_CATALOG = """
# The balances here keep every place of their many-digit charges: an operator declares such a scale.
currencies:
  - {code: EUR, decimals: 18}
item_classes:
  - name: deal
    quantity: units
    properties:
      - {name: units, type: decimal, unit: events}
charge_plans:
  - name: big
    currency: EUR
    counters:
      - {name: units_used, scope: contract_item, unit: events}
    charges:
      - name: deal
        item_class: deal
        account_role: payer
        output: both
        rounding: {decimals: 12, mode: half_even}
        counter_updates: [{counter: units_used, add: quantity}]
        price: {type: rate, amount: "123456789012345678901234567890.123456789012", unit: events}
"""


def _contract(contract_id: str, holder: str, account_id: str | None) -> ContractInput:
    return ContractInput.model_validate(
        {
            "id": contract_id,
            "subscriber_account_id": holder,
            "valid_from": START.isoformat(),
            "items": [{"id": "main", "charge_plan": "big"}],
            "roles": {"payer": account_id} if account_id is not None else {},
        }
    )


def _big_spender(engine: Engine, kind: str, **account: str) -> None:
    engine.load_catalog(parse_document(BIG_CATALOG, source="big.yaml"))
    engine.create_subscriber_account(
        SubscriberAccountInput.model_validate(
            {"id": "zoe", "currency": "EUR", "accounts": [{"id": f"zoe-{kind}", "kind": kind, **account}]}
        )
    )
    engine.create_contract(_contract("zoe-contract", "zoe", f"zoe-{kind}"))
    engine.create_access(AccessInput(service_id="mobile", user_id="zoe-msisdn", contract_id="zoe-contract", valid_from=START))


def _deal(units: str) -> ChargeableItem:
    return ChargeableItem("deal", AT, "mobile", "zoe-msisdn", {"units": units})


def test_postpaid_accumulates_many_digit_amounts_exactly(engine: Engine) -> None:
    _big_spender(engine, "postpaid")
    price = Decimal("123456789012345678901234567890.123456789012")
    # price x 1E-21 = 123456789.012345678901|2345..., rounded half even to 12 decimals
    small = Decimal("123456789.012345678901")

    first = engine.charge(_deal("1"), idempotency_key="deal-1")
    second = engine.charge(_deal("0.000000000000000000001"))

    assert first.charged_items is not None and second.charged_items is not None
    assert [first.charged_items[0].amount, second.charged_items[0].amount] == [price, small]
    expected = Decimal("123456789012345678901358024679.135802467913")  # 42 digits
    assert engine.account("zoe-postpaid").balance == expected
    assert operations_sum(engine, "zoe-postpaid") == expected
    with UnitOfWork(engine.database, writes=False) as uow:
        assert uow.master.operations_total("zoe-postpaid") == expected
    rows = charged_rows(engine, "zoe-contract")
    assert [row["amount"] for row in rows] == [price, small]
    assert [row["quantity"] for row in rows] == [Decimal(1), Decimal("0.000000000000000000001")]
    assert [counter.value for counter in engine.contract("zoe-contract").counters] == [Decimal("1.000000000000000000001")]
    assert engine.charge(_deal("1"), idempotency_key="deal-1") == first  # the stored result keeps every digit too


def test_prepaid_debits_leave_every_digit_of_the_balance(engine: Engine) -> None:
    # A 28-digit opening balance (as much as the default decimal context holds) and a debit of
    # price x 1E-20 = 1234567890.123456789012|3... (12 decimals): the balance after needs 29 digits.
    _big_spender(engine, "prepaid", initial_balance="12345678901234567.89012345678")

    result = engine.charge(_deal("0.00000000000000000001"))

    assert result.charged_items is not None and result.charged_items[0].amount == Decimal("1234567890.123456789012")
    expected = Decimal("12345677666666677.766666667768")
    assert engine.account("zoe-prepaid").balance == expected
    assert operations_sum(engine, "zoe-prepaid") == expected
    with UnitOfWork(engine.database, writes=False) as uow:
        assert uow.master.operations_total("zoe-prepaid") == expected


@pytest.mark.parametrize("operation", [pytest.param("opening", id="opening-balance"), pytest.param("adjustment", id="top-up")])
def test_opening_balances_and_top_ups_keep_every_digit(engine: Engine, operation: str) -> None:
    amount = Decimal("123456789012345678901234567890.12")
    opening = amount if operation == "opening" else Decimal("0.01")
    _big_spender(engine, "prepaid", initial_balance=str(opening))
    if operation == "adjustment":
        engine.adjust_balance("zoe-prepaid", AdjustmentInput(amount=amount))
    expected = exact_sum([opening] if operation == "opening" else [opening, amount])
    assert operations_sum(engine, "zoe-prepaid") == expected
    assert engine.account("zoe-prepaid").balance == expected


# ---- datetimes ----------------------------------------------------------------------------

KOLKATA = timezone(timedelta(hours=5, minutes=30))
NEW_YORK_WINTER = timezone(timedelta(hours=-5))


@pytest.mark.parametrize(
    "moment",
    [
        pytest.param(datetime(2026, 3, 29, 1, 30, 0, 123456, tzinfo=UTC), id="utc-with-microseconds"),
        pytest.param(datetime(2026, 3, 29, 7, 0, 0, 1, tzinfo=KOLKATA), id="plus-05-30"),
        pytest.param(datetime(2025, 12, 31, 23, 59, 59, 999999, tzinfo=NEW_YORK_WINTER), id="minus-05-next-day-in-utc"),
    ],
)
def test_datetimes_keep_their_instant(engine: Engine, moment: datetime) -> None:
    build_world(engine)
    holder = engine.subscriber_account("alice")
    engine.create_contract(
        ContractInput.model_validate(
            {
                "id": "timed",
                "subscriber_account_id": holder.id,
                "valid_from": moment.isoformat(),
                "valid_to": (moment + timedelta(days=400)).isoformat(),
                "items": [{"id": "main", "charge_plan": "mobile"}],
                "roles": {"payer": "alice-prepaid"},
            }
        )
    )
    engine.create_access(AccessInput(service_id="mobile", user_id="timed-msisdn", contract_id="timed", valid_from=moment))
    engine.charge(ChargeableItem("sms", moment, "mobile", "timed-msisdn", {"destination": "33"}))

    contract = engine.contract("timed")
    [access] = engine.accesses("mobile", "timed-msisdn")
    [row] = charged_rows(engine, "timed")
    for read in (contract.valid_from, access.valid_from, row["consumption_date"]):
        assert read == moment
        assert read.utcoffset() == timedelta(0)
    assert contract.valid_to == moment + timedelta(days=400)


def test_validity_is_compared_by_instant_not_by_local_time(engine: Engine) -> None:
    # The access opens at 10:00+02:00, that is 08:00 UTC: 09:00 UTC is inside, 07:59 UTC before it,
    # although "07:59" and "09:00" both sort before "10:00" as local text.
    build_world(engine)
    opens = datetime(2026, 6, 1, 10, 0, tzinfo=timezone(timedelta(hours=2)))
    engine.create_contract(
        ContractInput.model_validate(
            {
                "id": "late",
                "subscriber_account_id": "alice",
                "valid_from": START.isoformat(),
                "items": [{"id": "main", "charge_plan": "mobile"}],
                "roles": {"payer": "alice-prepaid"},
            }
        )
    )
    engine.create_access(AccessInput(service_id="mobile", user_id="late-msisdn", contract_id="late", valid_from=opens))

    engine.charge(ChargeableItem("sms", datetime(2026, 6, 1, 9, 0, tzinfo=UTC), "mobile", "late-msisdn", {"destination": "33"}))
    assert len(engine.accesses("mobile", "late-msisdn")) == 1
    with pytest.raises(KopekError) as refused:
        engine.charge(ChargeableItem("sms", datetime(2026, 6, 1, 7, 59, tzinfo=UTC), "mobile", "late-msisdn", {"destination": "33"}))
    assert refused.value.code.value == "access_not_found"
