"""Export then restore, on SQLite and PostgreSQL: a fresh database charges exactly as the original did,
and restore(export(x)) = x for any counter values."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kopek import ChargeableItem, Engine
from kopek.migration.restore import RestoreMode
from kopek.migration.state import CONTRACT_STATE_FORMAT_VERSION, ContractState
from kopek.store.database import database_url
from tests.conftest import POSTGRES_URL, postgres_schema_url
from tests.contract_state_world import build_family, sms, voice
from tests.fakes import FixedClock, SequentialIds


@pytest.fixture
def fresh_url(any_url: str, tmp_path: Path) -> Iterator[str]:
    """A second, empty database of the same kind as ``engine``'s."""
    if any_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    schema = f"kopek_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(database_url(POSTGRES_URL))
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield postgres_schema_url(schema)
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def _charged(engine: Engine, items: list[ChargeableItem]) -> list[tuple[Any, ...]]:
    results = [engine.charge(item) for item in items]
    return [(line.charge, line.quantity, line.amount) for result in results for line in result.charged_items or []]


def test_a_fresh_database_restored_from_an_export_charges_identically(engine: Engine, fresh_url: str, clock: FixedClock) -> None:
    build_family(engine)
    _charged(engine, [voice(0, "250"), sms(0), sms(0), voice(1, "299.5"), sms(2)])
    engine.begin_migration(None)
    lines = [state.line() for state in engine.export_contract_states()]
    engine.end_migration(None)

    with Engine(fresh_url, clock=clock, new_id=SequentialIds()) as fresh:
        build_family(fresh)
        fresh.begin_migration(None)
        report = fresh.restore_contract_states(lines, RestoreMode.ALL_OR_NOTHING)
        assert (report.committed, report.states_restored) == (True, 3)
        fresh.end_migration(None)
        assert [state.line() for state in fresh.export_contract_states()] == lines

        # The same items, charged on both: 50 and 0.5 free seconds are left, then a second costs 0.01.
        later = [voice(0, "80"), voice(1, "10"), sms(0), voice(2, "301")]
        original = _charged(engine, later)
        assert _charged(fresh, later) == original
        assert [amount for _, _, amount in original] == [Decimal("0.30"), Decimal("0.10"), Decimal("0.10"), Decimal("0.01")]
        assert [state.line() for state in fresh.export_contract_states()] == [state.line() for state in engine.export_contract_states()]


values = st.one_of(
    st.builds(lambda digits, scale: Decimal(f"{digits}E-{scale}"), st.integers(0, 10**38 - 1), st.integers(0, 37)),
    st.fractions(min_value=0, max_value=10**9, max_denominator=3600),
)
"""Counter values: decimals of up to 38 digits, and fractions without a finite decimal expansion (thirds of a minute)."""
moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2026, 6, 1, 12), timezones=st.just(UTC))
activation_ids = st.lists(st.text("abcdefgh0123456789-", min_size=1, max_size=12), max_size=3, unique=True)


lives = st.tuples(st.none() | moments, st.none() | st.datetimes(min_value=datetime(2000, 1, 1), timezones=st.just(UTC)))
"""A counter's period start (not in the future) and expiry (any instant), each possibly absent."""


def _counter(name: str, unit: str, value: Decimal | Fraction, life: tuple[datetime | None, datetime | None]) -> dict[str, Any]:
    return {"name": name, "unit": unit, "value": value, "period_start": life[0], "expires_at": life[1]}


def _state(
    counters: dict[str, tuple[Decimal | Fraction, tuple[datetime | None, datetime | None]] | None],
    snapshot: datetime | None,
    days: int | None,
    ids: list[str],
) -> ContractState:
    shared, sms_sent, bonus = (counters.get(name) for name in ("shared_seconds", "sms_sent", "bonus_sms"))
    return ContractState.model_validate(
        {
            "format_version": CONTRACT_STATE_FORMAT_VERSION,
            "contract_id": "carol-contract-0",
            "last_snapshot_date": snapshot,
            "snapshot_days": days if snapshot is not None else None,
            "shared_counters": [] if shared is None else [_counter("shared_seconds", "seconds", *shared)],
            "items": [] if sms_sent is None else [{"item_id": "main", "counters": [_counter("sms_sent", "events", *sms_sent)]}],
            "activations": [
                {
                    "id": activation_id,
                    "item_id": "main",
                    "kind": "charge",
                    "status": "active",
                    "last_activation_date": snapshot,
                    "counters": [] if bonus is None or index > 0 else [_counter("bonus_sms", "events", *bonus)],
                }
                for index, activation_id in enumerate(sorted(ids))
            ],
        }
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    counters=st.fixed_dictionaries({name: st.none() | st.tuples(values, lives) for name in ("shared_seconds", "sms_sent", "bonus_sms")}),
    snapshot=st.none() | moments,
    days=st.integers(0, 1000),
    ids=activation_ids,
)
def test_restore_of_an_export_is_the_identity(
    engine: Engine,
    counters: dict[str, tuple[Decimal | Fraction, tuple[datetime | None, datetime | None]] | None],
    snapshot: datetime | None,
    days: int,
    ids: list[str],
) -> None:
    _ensure_family(engine)
    state = _state(counters, snapshot, days, ids)
    report = engine.restore_contract_states([state.line()], RestoreMode.ALL_OR_NOTHING)
    assert report.failures == []
    (exported,) = engine.export_contract_states(["carol-contract-0"])
    assert exported == state
    assert exported.line() == state.line()


def _ensure_family(engine: Engine) -> None:
    """Build the family world once per engine (hypothesis runs many examples on one fixture)."""
    if not engine.audit_log(1):
        build_family(engine, contracts=1)
        engine.begin_migration(None)
