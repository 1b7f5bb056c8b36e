"""Rating is exact to the last digit: per-minute rates billed by the second add up to the very amount the
catalog means, a tie is a tie, and counters in minutes hold thirds of a minute as thirds.

Each case here went wrong when trees were evaluated in 60-digit decimals: a part such as
``amount x seconds / 60`` does not end, so several of them added up to a hair off the rounding grid
(or off the tie), and the charge's one rounding moved the amount by one unit of its last place.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from tests.unit.rating_support import amount, contract, counters_after, load_catalog, rate, tariff, typed

from kopek.domain.master import Account, AccountId, AccountKind, SubscriberAccountId
from kopek.rating.grant import grant
from kopek.rating.quota import grid_step
from kopek.rating.rate import RatingState


def _per_minute_parts(*amounts: str) -> str:
    """A sum of per-minute rates, each billed by the second."""
    return "{type: sum, parts: [" + ", ".join(f"{{type: rate, amount: '{value}', unit: minutes}}" for value in amounts) + "]}"


@pytest.mark.parametrize(
    ("parts", "seconds", "rounding", "expected"),
    [
        # Three thirds of ten cents: each part is 1/30 of a euro, 0.0333… to 60 digits, so their sum fell below 0.10.
        pytest.param(("2.00", "2.00", "2.00"), 1, "{decimals: 2, mode: down}", "0.10", id="sum-on-the-grid-rounded-down"),
        # Three sixtieths of a euro: 0.01666…7 to 60 digits, so their sum rose above 0.05.
        pytest.param(("1.00", "1.00", "1.00"), 1, "{decimals: 5, mode: up}", "0.05000", id="sum-on-the-grid-rounded-up"),
        # 0.20 + 1.10 + 2.00 a minute for one second is 0.055 exactly: a tie, which 60 digits put just below.
        pytest.param(("0.20", "1.10", "2.00"), 1, "{decimals: 2, mode: half_up}", "0.06", id="tie-half-up"),
        pytest.param(("0.20", "1.10", "2.00"), 1, "{decimals: 2, mode: half_even}", "0.06", id="tie-half-even"),
        pytest.param(("0.70", "0.70", "0.70"), 10, "{decimals: 2, mode: up}", "0.35", id="ten-seconds-on-the-grid-rounded-up"),
    ],
)
def test_parts_that_do_not_end_add_up_to_the_exact_amount_before_the_one_rounding(
    parts: tuple[str, ...], seconds: int, rounding: str, expected: str
) -> None:
    catalog = tariff(_per_minute_parts(*parts), charge=f"rounding: {rounding}")

    charged = amount(rate(catalog, {"duration": str(seconds)}))

    assert charged == Decimal(expected)
    assert str(charged) == expected


def test_a_counter_in_minutes_holds_thirds_of_a_minute_exactly() -> None:
    catalog = tariff(
        "{type: allowance, counter: free_minutes, then: {type: rate, amount: '0.60', unit: minutes}}",
        counters="[{name: free_minutes, unit: minutes, initial: 1}]",
    )
    stored = counters_after(rate(catalog, {"duration": "20"}))

    assert stored == {"free_minutes": Fraction(2, 3)}
    # 40 more seconds use the minute up exactly: nothing is left over, nothing is billed.
    last = rate(catalog, {"duration": "40"}, counters=stored)
    assert counters_after(last) == {"free_minutes": 0}
    assert amount(last) == Decimal("0.0000")


def test_the_grant_is_the_largest_quantity_whose_exact_price_fits() -> None:
    # Three parts of 0.70 a minute billed by the second, rounded up: 10 s cost exactly 0.35. In 60 digits they cost
    # 0.350…01, rounded up to 0.36, and the grant stopped a second short.
    catalog = tariff(_per_minute_parts("0.70", "0.70", "0.70"), charge="rounding: {decimals: 2, mode: up}")
    state = RatingState(contract("plan"), {})
    item = typed(catalog, "call", {"duration": "0"})
    payer = AccountId("prepaid-1")
    account = Account(payer, SubscriberAccountId("subscriber-1"), AccountKind.PREPAID, "EUR", balance=Decimal("0.35"))

    granted = grant(catalog, state, item, {payer: account}, {payer: Decimal("0.35")}, requested=Decimal(60))

    assert grid_step(catalog, state.contract, item) == Decimal(1)
    assert (granted.quantity, granted.amounts) == (Decimal(10), {payer: Decimal("0.35")})


MINUTES_CATALOG = """
item_classes:
  - name: call
    quantity: duration
    properties:
      - {name: duration, type: decimal, unit: minutes}
charge_plans:
  - name: plan
    currency: EUR
    charges:
      - name: main
        item_class: call
        price: {type: rate, amount: "0.01", unit: seconds, increment: 1}
"""


def test_a_one_second_increment_on_a_quantity_in_minutes_grants_steps_the_item_can_carry() -> None:
    # A grant is a quantity of the item: 1/60 of a minute is no decimal, three seconds (0.05 minutes) are.
    catalog = load_catalog(MINUTES_CATALOG)

    assert grid_step(catalog, contract("plan"), typed(catalog, "call", {"duration": "0"})) == Decimal("0.05")
