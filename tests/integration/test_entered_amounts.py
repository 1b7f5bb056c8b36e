"""Amounts people enter are bounded by their currency's scale, in every way they enter kopek; rated amounts are not."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kopek import Engine, SubscriberAccountInput
from kopek.admin.master_data import AccountInput, AdjustmentInput, MasterDataDocument
from kopek.charging.refills import RefillCommand
from kopek.errors import Code, InvalidError
from tests.fee_world import build
from tests.worlds import build_world, call, catalog_document


def _refused(error: pytest.ExceptionInfo[InvalidError]) -> tuple[Code, tuple[str | int, ...]]:
    return error.value.code, error.value.details[0].location


def test_an_adjustment_past_the_cents_is_invalid_and_changes_nothing(engine: Engine) -> None:
    build_world(engine)
    operations = len(engine.account_operations("alice-prepaid"))

    with pytest.raises(InvalidError) as refused:
        engine.adjust_balance("alice-prepaid", AdjustmentInput(amount=Decimal("0.1000000000000000055511151231257827")))

    assert _refused(refused) == (Code.AMOUNT_PLACES_EXCEED_CURRENCY, ("amount",))
    assert engine.account("alice-prepaid").balance == Decimal("10.00")
    assert len(engine.account_operations("alice-prepaid")) == operations


def test_an_adjustment_with_trailing_zeros_is_stored_in_the_currency_places(engine: Engine) -> None:
    build_world(engine)

    engine.adjust_balance("alice-prepaid", AdjustmentInput(amount=Decimal("1.500000")))

    assert str(engine.account_operations("alice-prepaid")[-1].amount) == "1.50"
    assert str(engine.account("alice-prepaid").balance) == "11.50"


def test_an_opening_balance_past_the_cents_is_invalid_naming_the_account(engine: Engine) -> None:
    record = SubscriberAccountInput.model_validate(
        {"id": "zoe", "currency": "EUR", "accounts": [{"id": "zoe-prepaid", "kind": "prepaid", "initial_balance": "10.001"}]}
    )

    with pytest.raises(InvalidError) as refused:
        engine.create_subscriber_account(record)

    assert _refused(refused) == (Code.AMOUNT_PLACES_EXCEED_CURRENCY, ("accounts", 0, "initial_balance"))
    with pytest.raises(Exception, match="does not exist"):
        engine.subscriber_account("zoe")


def test_a_master_data_document_names_the_record_whose_amount_is_refused(engine: Engine) -> None:
    document = MasterDataDocument.model_validate(
        {
            "subscriber_accounts": [
                {"id": "ann", "currency": "EUR", "accounts": [{"id": "ann-prepaid", "kind": "prepaid", "initial_balance": "5.00"}]},
                {"id": "ben", "currency": "JPY", "accounts": [{"id": "ben-postpaid", "kind": "postpaid", "credit_limit": "100.5"}]},
            ]
        }
    )

    with pytest.raises(InvalidError) as refused:
        engine.load_master_data(document)

    assert _refused(refused) == (Code.AMOUNT_PLACES_EXCEED_CURRENCY, ("subscriber_accounts", 1, "accounts", 0, "credit_limit"))
    with pytest.raises(Exception, match="does not exist"):
        engine.subscriber_account("ann")  # all or nothing


def test_a_new_account_takes_its_holders_currency_scale(engine: Engine) -> None:
    engine.create_subscriber_account(SubscriberAccountInput.model_validate({"id": "kai", "currency": "KWD"}))

    engine.add_account("kai", AccountInput.model_validate({"id": "kai-prepaid", "kind": "prepaid", "initial_balance": "1.234"}))
    with pytest.raises(InvalidError) as refused:
        engine.add_account("kai", AccountInput.model_validate({"id": "kai-2", "kind": "prepaid", "floor": "-0.0005"}))

    assert engine.account("kai-prepaid").balance == Decimal("1.234")
    assert _refused(refused) == (Code.AMOUNT_PLACES_EXCEED_CURRENCY, ("floor",))


def test_a_refill_amount_past_the_cents_is_invalid(engine: Engine) -> None:
    build(engine, "monthly", balance="10.00")

    with pytest.raises(InvalidError) as refused:
        engine.refill(RefillCommand("r-1", "ann-contract", "topup", Decimal("5.0000001")))

    assert _refused(refused) == (Code.AMOUNT_PLACES_EXCEED_CURRENCY, ("amount",))
    assert engine.account("ann-prepaid").balance == Decimal("10.00")


def test_a_catalog_may_declare_sub_cent_balances_for_a_currency(engine: Engine) -> None:
    document = catalog_document()
    document["currencies"] = [{"code": "EUR", "decimals": 4}]
    engine.load_catalog(document)
    record = SubscriberAccountInput.model_validate(
        {"id": "zoe", "currency": "EUR", "accounts": [{"id": "zoe-prepaid", "kind": "prepaid", "initial_balance": "10.0001"}]}
    )

    engine.create_subscriber_account(record)
    engine.adjust_balance("zoe-prepaid", AdjustmentInput(amount=Decimal("0.0005")))

    assert engine.account("zoe-prepaid").balance == Decimal("10.0006")
    with pytest.raises(InvalidError):
        engine.adjust_balance("zoe-prepaid", AdjustmentInput(amount=Decimal("0.00001")))


def test_rated_amounts_keep_the_places_of_their_catalog_rounding(engine: Engine) -> None:
    document = catalog_document()
    document["charge_plans"][0]["charges"][0]["rounding"] = {"decimals": 4, "mode": "half_up"}
    document["charge_plans"][0]["charges"][0]["price"]["then"]["prefixes"]["33"]["amount"] = "0.60015"
    engine.load_catalog(document)
    build_world(engine)  # loads the world's catalog over it: a new version, without the 4 places
    engine.load_catalog(document)

    result = engine.charge(call(seconds="120"))

    assert result.charged_items is not None
    assert str(result.charged_items[0].amount) == "0.6002"  # 60 free seconds, one minute at 0.60015, 4 places
    assert engine.account("alice-prepaid").balance == Decimal("9.3998")
