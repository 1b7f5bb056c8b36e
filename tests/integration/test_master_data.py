"""Master data administration rules that protect balances and dates."""

from __future__ import annotations

from decimal import Decimal

import pydantic
import pytest

from kopek import AdjustmentInput, Category, Code, ContractInput, Engine, KopekError, Reason, ResultOptions
from tests.worlds import balance, build_world, call


@pytest.fixture
def world(engine: Engine) -> Engine:
    build_world(engine)
    return engine


def test_adjustment_cannot_take_a_prepaid_balance_below_its_floor(world: Engine) -> None:
    with pytest.raises(KopekError) as refused:
        world.adjust_balance("alice-prepaid", AdjustmentInput(amount=Decimal("-10.01")))
    assert (refused.value.category, refused.value.reason) == (Category.ILLEGAL_STATE, Reason.CANNOT_CHARGE_ACCOUNT)
    assert balance(world, "alice-prepaid") == Decimal("10.00")
    assert world.adjust_balance("alice-prepaid", AdjustmentInput(amount=Decimal("-10.00"))).balance == Decimal("0.00")


def test_postpaid_adjustment_may_be_negative(world: Engine) -> None:
    assert world.adjust_balance("bob-postpaid", AdjustmentInput(amount=Decimal("-5"))).balance == Decimal("-5")


@pytest.mark.parametrize("moment", [pytest.param(0, id="unix-integer"), pytest.param("2026-01-01T00:00:00", id="no-offset")])
def test_contract_dates_must_be_iso_text_with_an_offset(moment: object) -> None:
    with pytest.raises(pydantic.ValidationError):
        ContractInput.model_validate({"id": "x", "subscriber_account_id": "alice", "valid_from": moment})


@pytest.mark.parametrize("limit", [pytest.param(0, id="zero"), pytest.param(1001, id="past-the-bound")])
def test_page_size_outside_its_bounds_is_invalid(world: Engine, limit: int) -> None:
    with pytest.raises(KopekError) as refused:
        world.account_operations("alice-prepaid", limit=limit)
    assert refused.value.code is Code.LIMIT_EXCEEDED


def test_refusal_carries_only_the_no_access_notification(world: Engine) -> None:
    with pytest.raises(KopekError) as refused:
        world.charge(call(seconds="30", destination="999123"), ResultOptions(notifications_on_error=True))
    assert [note.kind.value for note in refused.value.notifications] == ["no_access"]
    assert world.contract("alice-contract").counters == []


def test_bad_master_data_file_is_an_invalid_error_naming_the_file(engine: Engine, tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    bad = tmp_path / "master.yaml"
    bad.write_text("subscriber_accounts:\n  - id: carol\n    currency: euro\n", encoding="utf-8")
    with pytest.raises(KopekError) as refused:
        engine.load_master_data(bad)
    assert refused.value.code is Code.MASTER_DATA_INVALID
    assert refused.value.details[0].location == (str(bad), "subscriber_accounts", 0, "currency")
