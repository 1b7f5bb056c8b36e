"""A family pool (a counter of scope ``shared``) is part of the contract states that use it: exported with each of them,
restored with them, so a migration keeps what the family drew from it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from kopek import ChargeableItem, Engine, RestoreMode
from kopek.errors import Code
from kopek.store.schema import shared_counters
from tests.integration.support import exact_sum, prepaid_subscriber, sharing_engine, voice_contract

AT = datetime(2026, 3, 10, 12, tzinfo=UTC)
FAMILY = ("ann-line", "ben-line")


def _family(engine: Engine) -> None:
    for holder in ("ann", "ben"):
        prepaid_subscriber(engine, holder)
        voice_contract(engine, f"{holder}-line", holder, "family_pool")


def _call(user: str, seconds: int) -> ChargeableItem:
    return ChargeableItem("call", AT, "voice", user, {"duration": seconds})


def _pool(engine: Engine) -> Decimal | None:
    with engine.database.connect() as connection:
        return connection.execute(sa.select(shared_counters.c.value).where(shared_counters.c.namespace == "family")).scalar_one_or_none()


@pytest.fixture
def source(any_url: str) -> Iterator[Engine]:
    with sharing_engine(any_url) as engine:
        _family(engine)
        yield engine


@pytest.fixture
def target(tmp_path: Path) -> Iterator[Engine]:
    """Another kopek database (a SQLite file beside the source) with the same catalog and master data, migrating."""
    with sharing_engine(f"sqlite:///{tmp_path / 'target.db'}") as engine:
        _family(engine)
        engine.begin_migration(list(FAMILY))
        yield engine


def test_each_state_of_the_family_carries_the_pool_as_it_was_drawn(source: Engine) -> None:
    source.charge(_call("ann-line", 480))  # 480 of the pool's 600 s

    states = list(source.export_contract_states())

    pools = [[(pool.namespace, pool.name, pool.unit.value, pool.value) for pool in state.shared_counters] for state in states]
    assert pools == [[("family", "pool", "seconds", Decimal(120))], [("family", "pool", "seconds", Decimal(120))]]


def test_a_migration_keeps_the_pool_and_the_family_draws_on_what_was_left(source: Engine, target: Engine) -> None:
    source.charge(_call("ann-line", 480))
    lines = [state.line() for state in source.export_contract_states()]

    report = target.restore_contract_states(lines, RestoreMode.ALL_OR_NOTHING)
    target.end_migration(list(FAMILY))
    charged = target.charge(_call("ben-line", 300))

    assert (report.states_restored, report.states_failed) == (2, 0)
    assert exact_sum(item.amount for item in charged.charged_items or []) == Decimal("1.80")  # 120 s free, 180 s at 0.01
    assert _pool(target) == 0


def test_states_that_disagree_on_a_pool_refuse_the_later_one(source: Engine, target: Engine) -> None:
    source.charge(_call("ann-line", 480))
    first, second = (state.line() for state in source.export_contract_states())
    disagreeing = second.replace('"value":"120"', '"value":"500"')

    report = target.restore_contract_states([first, disagreeing], RestoreMode.BEST_EFFORT)

    assert (report.states_restored, report.states_failed) == (1, 1)
    assert (report.failures[0].contract_id, report.failures[0].code) == ("ben-line", Code.SHARED_COUNTER_DIFFERS)
    assert _pool(target) == 120


def test_a_pool_the_contract_s_plans_do_not_declare_is_refused(source: Engine, target: Engine) -> None:
    (state, _) = source.export_contract_states()
    stranger = json.loads(state.line()) | {"shared_counters": [{"namespace": "strangers", "name": "pool", "unit": "seconds", "value": "1"}]}

    report = target.restore_contract_states([json.dumps(stranger)], RestoreMode.BEST_EFFORT)

    assert [failure.code for failure in report.failures] == [Code.COUNTER_UNKNOWN]


def test_a_state_without_the_pool_leaves_it_as_the_other_contracts_left_it(source: Engine, target: Engine) -> None:
    target.end_migration(list(FAMILY))
    target.charge(_call("ann-line", 100))
    target.begin_migration(list(FAMILY))
    (ann, _) = source.export_contract_states()  # nothing drawn on the source: no pool stored, none exported

    report = target.restore_contract_states([ann.line()], RestoreMode.ALL_OR_NOTHING)

    assert (ann.shared_counters, report.states_restored) == ((), 1)
    assert _pool(target) == 500
