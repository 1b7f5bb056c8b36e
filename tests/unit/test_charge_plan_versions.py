"""Versions of a charge plan: an item is priced by the version in effect at its consumption date."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from rating_support import ITEM_CLASSES_YAML, amount, load_catalog, rate

from kopek.errors import Code, KopekError, PrerequisiteMissingError


def versions(*effective: str | None, amounts: tuple[int, ...] = ()) -> str:
    """A catalog with one version of ``plan`` per date; an SMS costs ``amounts`` (default 1, 2, ...)."""
    plans = []
    for index, day in enumerate(effective):
        when = f"effective_from: {day}, " if day is not None else ""
        price = amounts[index] if amounts else index + 1
        charge = f"{{name: main, item_class: sms, price: {{type: flat, amount: {price}}}}}"
        plans.append(f"  - {{name: plan, version: {index + 1}, {when}currency: EUR, charges: [{charge}]}}")
    return ITEM_CLASSES_YAML + "charge_plans:\n" + "\n".join(plans) + "\n"


def sms_at(text: str, at: datetime) -> Decimal:
    return amount(rate(load_catalog(text), {"count": 1}, item_class="sms", consumed_at=at))


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        pytest.param(datetime(2024, 1, 31, 23, 59, tzinfo=UTC), 1, id="before_the_second_version"),
        pytest.param(datetime(2024, 2, 1, 0, 0, tzinfo=UTC), 2, id="first_day_of_the_second_version"),
        pytest.param(datetime(2024, 2, 1, 0, 30, tzinfo=datetime.fromisoformat("2024-02-01T00:30+01:00").tzinfo), 1, id="utc_date_decides"),
        pytest.param(datetime(2024, 6, 1, tzinfo=UTC), 3, id="latest"),
    ],
)
def test_the_version_in_effect_prices_the_item(at: datetime, expected: int) -> None:
    # Listed out of order on purpose: the dates decide, not the order.
    text = versions("2024-06-01", None, "2024-02-01", amounts=(3, 1, 2))

    assert sms_at(text, at) == Decimal(expected)


def test_no_version_in_effect_yet_is_refused() -> None:
    with pytest.raises(PrerequisiteMissingError) as caught:
        sms_at(versions("2024-02-01"), datetime(2024, 1, 1, tzinfo=UTC))

    assert caught.value.code is Code.CHARGE_PLAN_UNKNOWN
    assert "no version in effect on 2024-01-01" in caught.value.message


def test_older_versions_stay_readable() -> None:
    catalog = load_catalog(versions(None, "2024-02-01"))

    assert [plan.version for plan in catalog.charge_plans] == [1, 2]
    old = catalog.charge_plan("plan", datetime(2024, 1, 1, tzinfo=UTC))
    assert old is not None and old.version == 1
    latest = catalog.charge_plan("plan")
    assert latest is not None and latest.version == 2


@pytest.mark.parametrize(
    ("effective", "fault"),
    [
        pytest.param((None, None), "'plan' is defined more than once", id="two_without_a_date"),
        pytest.param(("2024-02-01", "2024-02-01"), "'plan' is defined more than once with effective_from 2024-02-01", id="same_date"),
    ],
)
def test_two_versions_in_effect_from_the_same_day_are_refused(effective: tuple[str | None, ...], fault: str) -> None:
    with pytest.raises(KopekError) as caught:
        load_catalog(versions(*effective))

    assert [detail.message for detail in caught.value.details] == [fault]
