"""Exactness of recharging, as a property, on SQLite and PostgreSQL: a recharge with a new catalog leaves what a fresh
database leaves that charged the same items once, in consumption order, with that catalog: balances, counters and charged
items. Top-ups with bonus units come among the items: a recharge puts them again in their place. Generation is
derandomized: every run tries the same examples on both databases."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kopek import ChargeableItem, Engine
from kopek.charging.refills import RefillCommand
from tests.conftest import SchemaPool, postgres_schema_url
from tests.fakes import FixedClock, SequentialIds
from tests.recharge_world import MONTH, NOW, build, figures, tariff

PRICES = st.sampled_from(["0.00", "0.01", "0.07", "0.15", "0.20", "1.35"])


TOPUP = {"name": "topup", "currency": "EUR", "account_role": "payer", "amount": "5.00",
         "bonus": {"counter": "free_minutes", "units": "5", "expires_after_days": 20}}  # fmt: skip
"""Five free minutes more that lapse 20 days later: some lapse inside a month, some cross its reset."""


@dataclass(frozen=True, slots=True)
class Topup:
    """A top-up of ann's line at ``at`` (the refill's date is the clock's)."""

    at: datetime


Event = ChargeableItem | Topup


def _date(event: Event) -> datetime:
    return event.consumption_date if isinstance(event, ChargeableItem) else event.at


@st.composite
def usage(draw: st.DrawFn) -> list[Event]:
    """Calls and texts of ann and ben over two months (the free minutes reset between) and top-ups of ann's line, in the
    order they arrived."""
    events: list[Event] = []
    for _ in range(draw(st.integers(min_value=1, max_value=12))):
        holder = draw(st.sampled_from(["ann", "ben"]))
        at = MONTH + timedelta(minutes=draw(st.integers(min_value=0, max_value=60 * 24 * 55)))
        kind = draw(st.sampled_from(["call", "sms", "topup"]))
        if kind == "call":
            seconds = draw(st.integers(min_value=1, max_value=1_500))
            events.append(ChargeableItem("call", at, "mobile", holder, {"duration": str(seconds)}))
        elif kind == "sms":
            events.append(ChargeableItem("sms", at, "mobile", holder, {}))
        else:
            events.append(Topup(at))
    return events


def _catalog(minute: str, text: str) -> dict[str, object]:
    return {**tariff(minute, text), "refill_plans": [TOPUP]}


def _happen(engine: Engine, clock: FixedClock, events: list[Event]) -> None:
    """Charge the items (on the clock as it stands) and apply the top-ups (each at its date), in the order given."""
    standing = clock.now
    for number, event in enumerate(events):
        if isinstance(event, Topup):
            clock.now = event.at
            engine.refill(RefillCommand(f"topup-{number}", "ann-line", "topup"))
            clock.now = standing
        else:
            engine.charge(event)


@contextmanager
def _engine(request: pytest.FixtureRequest, kind: str, folder: Path, name: str) -> Iterator[tuple[Engine, FixedClock]]:
    """An engine on an empty migrated database of its own (a copy of the SQLite template, or a pooled PostgreSQL schema)
    and its clock."""
    with ExitStack() as stack:
        if kind == "sqlite":
            path = folder / name
            shutil.copyfile(request.getfixturevalue("migrated_sqlite_file"), path)
            url = f"sqlite:///{path}"
        else:
            pool: SchemaPool = request.getfixturevalue("schema_pool")
            schema = pool.take()
            stack.callback(pool.give_back, schema)
            url = postgres_schema_url(schema)
        clock = FixedClock(NOW + timedelta(days=30))
        yield stack.enter_context(Engine(url, clock=clock, new_id=SequentialIds(name))), clock


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=usage(), before=st.tuples(PRICES, PRICES), after=st.tuples(PRICES, PRICES))
def test_a_recharge_equals_charging_once_with_the_new_catalog(
    request: pytest.FixtureRequest, database: str, items: list[Event], before: tuple[str, str], after: tuple[str, str]
) -> None:
    with (
        tempfile.TemporaryDirectory() as folder,
        _engine(request, database, Path(folder), "recharged.db") as (recharged, recharged_clock),
        _engine(request, database, Path(folder), "fresh.db") as (fresh, fresh_clock),
    ):
        build(recharged, minute=before[0], text=before[1], ann_balance="10000.00")
        recharged.load_catalog(_catalog(*before))
        _happen(recharged, recharged_clock, items)  # as they arrived: late ones after later ones
        recharged.load_catalog(_catalog(*after))
        build(fresh, minute=after[0], text=after[1], ann_balance="10000.00")
        fresh.load_catalog(_catalog(*after))
        _happen(fresh, fresh_clock, sorted(items, key=_date))

        for contract_id in ("ann-line", "ben-line"):
            recharged.recharge(contract_id, MONTH)
        once = figures(recharged)
        for contract_id in ("ann-line", "ben-line"):
            again = recharged.recharge(contract_id, MONTH)
            assert (again.items_changed, again.compensations) == (0, [])

        assert once == figures(fresh)
        assert figures(recharged) == once
        assert recharged.verify_ledger().consistent
