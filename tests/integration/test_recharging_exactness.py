"""Exactness of recharging, as a property, on SQLite and PostgreSQL: a recharge with a new catalog leaves what a fresh
database leaves that charged the same items once, in consumption order, with that catalog: balances, counters and charged
items. Generation is derandomized: every run tries the same examples on both databases."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kopek import ChargeableItem, Engine
from tests.conftest import SchemaPool, postgres_schema_url
from tests.fakes import FixedClock, SequentialIds
from tests.recharge_world import MONTH, NOW, build, figures, tariff

PRICES = st.sampled_from(["0.00", "0.01", "0.07", "0.15", "0.20", "1.35"])


@st.composite
def usage(draw: st.DrawFn) -> list[ChargeableItem]:
    """Calls and texts of ann and ben over two months (the free minutes reset between), in the order they arrived."""
    items = []
    for _ in range(draw(st.integers(min_value=1, max_value=12))):
        holder = draw(st.sampled_from(["ann", "ben"]))
        at = MONTH + timedelta(minutes=draw(st.integers(min_value=0, max_value=60 * 24 * 55)))
        if draw(st.booleans()):
            seconds = draw(st.integers(min_value=1, max_value=1_500))
            items.append(ChargeableItem("call", at, "mobile", holder, {"duration": str(seconds)}))
        else:
            items.append(ChargeableItem("sms", at, "mobile", holder, {}))
    return items


@contextmanager
def _engine(request: pytest.FixtureRequest, kind: str, folder: Path, name: str) -> Iterator[Engine]:
    """An engine on an empty migrated database of its own: a copy of the SQLite template, or a pooled PostgreSQL schema."""
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
        yield stack.enter_context(Engine(url, clock=FixedClock(NOW + timedelta(days=30)), new_id=SequentialIds(name)))


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=usage(), before=st.tuples(PRICES, PRICES), after=st.tuples(PRICES, PRICES))
def test_a_recharge_equals_charging_once_with_the_new_catalog(
    request: pytest.FixtureRequest, database: str, items: list[ChargeableItem], before: tuple[str, str], after: tuple[str, str]
) -> None:
    with (
        tempfile.TemporaryDirectory() as folder,
        _engine(request, database, Path(folder), "recharged.db") as recharged,
        _engine(request, database, Path(folder), "fresh.db") as fresh,
    ):
        build(recharged, minute=before[0], text=before[1], ann_balance="10000.00")
        for item in items:  # as they arrived: late ones after later ones
            recharged.charge(item)
        recharged.load_catalog(tariff(*after))
        build(fresh, minute=after[0], text=after[1], ann_balance="10000.00")
        for item in sorted(items, key=lambda item: item.consumption_date):
            fresh.charge(item)

        for contract_id in ("ann-line", "ben-line"):
            recharged.recharge(contract_id, MONTH)
        once = figures(recharged)
        for contract_id in ("ann-line", "ben-line"):
            again = recharged.recharge(contract_id, MONTH)
            assert (again.items_changed, again.compensations) == (0, [])

        assert once == figures(fresh)
        assert figures(recharged) == once
        assert recharged.verify_ledger().consistent
