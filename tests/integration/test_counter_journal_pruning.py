"""The counter journal pruned past the retention window of restoration points, on SQLite and PostgreSQL: bounded passes,
the horizon they leave, and recharges that still reach what is kept and are refused what is gone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from kopek import Engine, KopekError
from kopek.errors import Category, Code
from kopek.store.schema import counter_journal
from tests.fakes import FixedClock, SequentialIds
from tests.recharge_world import CORRECTED, MONTH, NOW, build, call, month_of_usage, tariff

LATER = MONTH + timedelta(days=60)
"""Calls of August, charged 60 days after June's."""


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


def _journal(engine: Engine) -> list[tuple[str, str | None]]:
    with engine.database.connect() as connection:
        query = sa.select(counter_journal.c.kind, counter_journal.c.operation_id).order_by(counter_journal.c.id)
        return [(row.kind, row.operation_id) for row in connection.execute(query)]


@pytest.fixture
def two_months(engine: Engine, clock: FixedClock) -> Engine:
    """June charged on July 2nd (two calls use the free minutes: two journal entries), August charged 60 days later (two
    calls, two entries)."""
    build(engine)
    for item in month_of_usage("ann"):
        engine.charge(item)
    clock.advance(days=60)
    engine.charge(call("ann", 63, 300))
    engine.charge(call("ann", 63, 600, hour=12))
    return engine


def test_a_pass_deletes_the_entries_older_than_the_window_and_keeps_the_others(two_months: Engine, clock: FixedClock) -> None:
    clock.advance(days=40)  # June's entries are 100 days old, August's 40: the 93-day window keeps August's
    assert len(_journal(two_months)) == 4

    pruned = two_months.prune_counter_journal()

    assert (pruned.deleted, pruned.more, pruned.horizon) == (2, False, clock.now - timedelta(days=93))
    assert [kind for kind, _ in _journal(two_months)] == ["change", "change", "pruned"]
    assert two_months.prune_counter_journal().deleted == 0


def test_passes_are_bounded_and_say_when_more_is_left(two_months: Engine, clock: FixedClock) -> None:
    clock.advance(days=40)

    passes = [two_months.prune_counter_journal(limit=1) for _ in range(3)]

    assert [(each.deleted, each.more) for each in passes] == [(1, True), (1, True), (0, False)]
    with pytest.raises(KopekError) as refused:
        two_months.prune_counter_journal(limit=10_001)
    assert (refused.value.category, refused.value.code) == (Category.INVALID, Code.LIMIT_EXCEEDED)


def test_a_recharge_after_pruning_reaches_what_the_window_kept_exactly(two_months: Engine, clock: FixedClock) -> None:
    clock.advance(days=40)
    two_months.prune_counter_journal()
    two_months.load_catalog(tariff(*CORRECTED))

    result = two_months.recharge("ann-line", LATER)

    # August: 5 and 10 minutes, ten free: 5 paid minutes, 1.00 at 0.20, 0.75 at 0.15.
    assert (result.items_recharged, result.items_changed) == (2, 1)
    assert [(each.account_id, each.amount) for each in result.compensations] == [("ann-prepaid", Decimal("0.25"))]
    assert two_months.verify_ledger().consistent


@pytest.fixture
def shorter_window(any_url: str, clock: FixedClock) -> Iterator[Engine]:
    """The same database opened with a retention window of 10 days."""
    with Engine(any_url, clock=clock, new_id=SequentialIds("short"), recharge_retention_days=10) as opened:
        yield opened


def test_a_wider_window_after_pruning_is_refused_what_was_pruned_instead_of_restoring_it_wrong(
    two_months: Engine, shorter_window: Engine, clock: FixedClock
) -> None:
    clock.advance(days=1)
    assert shorter_window.prune_counter_journal().deleted == 2  # June's entries are 61 days old
    two_months.load_catalog(tariff(*CORRECTED))

    # June is within the 93-day window of the other engine, but its journal is gone.
    with pytest.raises(KopekError) as refused:
        two_months.recharge("ann-line", MONTH)

    assert (refused.value.category, refused.value.code) == (Category.ILLEGAL_STATE, Code.RESTORATION_POINT_OUT_OF_REACH)
    assert "pruned" in refused.value.message
    assert two_months.contract("ann-line").status == "active"
    assert two_months.recharge("ann-line", LATER).items_recharged == 2


def test_the_horizon_only_moves_forward(two_months: Engine, shorter_window: Engine, clock: FixedClock) -> None:
    first = shorter_window.prune_counter_journal()

    second = two_months.prune_counter_journal()  # a wider window: an earlier cutoff, the horizon stays

    assert second.deleted == 0
    with two_months.database.connect() as connection:
        horizons = connection.execute(sa.select(counter_journal.c.recorded_at).where(counter_journal.c.kind == "pruned")).scalars().all()
    assert horizons == [first.horizon]
