"""Bulk restore of contract states on SQLite and PostgreSQL: both modes, the lock, the report, no money moved."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from kopek import Category, Code, Engine
from kopek.migration.restore import RestoreMode
from kopek.store.schema import activations, contracts
from kopek.store.uow import UnitOfWork
from tests.contract_state_world import build_family, sms, state_document, voice
from tests.integration.support import CHARGING_TABLES, snapshot


def _lines(*documents: dict[str, Any]) -> list[str]:
    return [json.dumps(document) for document in documents]


def _counters(engine: Engine, contract_id: str) -> dict[tuple[str, str], Decimal]:
    with UnitOfWork(engine.database, writes=False) as uow:
        return {(row["item_id"], row["name"]): row["value"] for row in uow.master.counter_rows(contract_id)}


def _money_and_charges(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    return {name: rows for name, rows in snapshot(engine).items() if name != "counters"}


@pytest.fixture
def family(engine: Engine) -> list[str]:
    contract_ids = build_family(engine)
    engine.charge(voice(0, "100"))
    engine.charge(sms(0))
    return contract_ids


def test_restore_replaces_counters_snapshot_and_activations_of_a_migrating_contract(engine: Engine, family: list[str]) -> None:
    engine.begin_migration(["carol-contract-0"])
    activation = {"id": "act-1", "item_id": "main", "kind": "refill", "status": "active", "last_activation_date": "2026-05-01T08:00:00Z"}
    report = engine.restore_contract_states(
        _lines(state_document("carol-contract-0", activations=[activation])), RestoreMode.ALL_OR_NOTHING
    )
    assert (report.committed, report.states_read, report.states_restored, report.states_failed) == (True, 1, 1, 0)
    assert _counters(engine, "carol-contract-0") == {("", "shared_seconds"): Decimal(120), ("main", "sms_sent"): Decimal(7)}
    (state,) = engine.export_contract_states(["carol-contract-0"])
    assert state.snapshot_days == 30
    assert state.last_snapshot_date is not None and state.last_snapshot_date.isoformat() == "2026-05-31T00:00:00+00:00"
    assert [(item.id, item.kind.value, item.status.value) for item in state.activations] == [("act-1", "refill", "active")]


def test_counters_absent_from_the_state_go_back_to_their_initial_value(engine: Engine, family: list[str]) -> None:
    engine.begin_migration(["carol-contract-0"])
    engine.restore_contract_states(_lines(state_document("carol-contract-0", shared_counters=[], items=[])), RestoreMode.BEST_EFFORT)
    assert _counters(engine, "carol-contract-0") == {}
    engine.end_migration(["carol-contract-0"])
    # 300 free seconds again: a 100 s call costs nothing.
    assert engine.charge(voice(0, "100")).charged_items[0].amount == 0  # type: ignore[index]


def test_restore_is_neither_a_refill_nor_a_charge(engine: Engine, family: list[str]) -> None:
    before = _money_and_charges(engine)
    engine.begin_migration(None)
    report = engine.restore_contract_states(_lines(*(state_document(contract_id) for contract_id in family)), RestoreMode.ALL_OR_NOTHING)
    assert report.states_restored == 3
    assert _money_and_charges(engine) == before


def test_all_or_nothing_with_one_bad_state_commits_nothing_and_reports_every_failure(engine: Engine, family: list[str]) -> None:
    engine.begin_migration(None)
    before = snapshot(engine)
    lines = [
        *_lines(state_document("carol-contract-0"), state_document("nobody")),
        "",
        "{not json",
        *_lines(state_document("carol-contract-1", shared_counters=[{"name": "shared_seconds", "unit": "minutes", "value": "1"}])),
        *_lines(state_document("carol-contract-2")),
    ]
    report = engine.restore_contract_states(lines, RestoreMode.ALL_OR_NOTHING)
    assert (report.committed, report.states_read, report.states_restored, report.states_failed) == (False, 5, 0, 3)
    assert [(failure.line, failure.contract_id, failure.category, failure.code) for failure in report.failures] == [
        (2, "nobody", Category.DOES_NOT_EXIST, Code.NOT_FOUND),
        (4, None, Category.INVALID, Code.CONTRACT_STATE_INVALID),
        (5, "carol-contract-1", Category.INVALID, Code.COUNTER_UNIT_MISMATCH),
    ]
    assert snapshot(engine) == before


def test_best_effort_commits_each_valid_contract_and_reports_the_others(engine: Engine, family: list[str]) -> None:
    engine.begin_migration(["carol-contract-0", "carol-contract-2"])
    lines = _lines(
        state_document("carol-contract-0"),
        state_document("carol-contract-1"),
        state_document("carol-contract-2", last_snapshot_date="2027-01-01T00:00:00Z"),
    )
    report = engine.restore_contract_states(lines, RestoreMode.BEST_EFFORT)
    assert (report.committed, report.states_restored, report.states_failed) == (True, 1, 2)
    assert [(failure.line, failure.contract_id, failure.category, failure.code) for failure in report.failures] == [
        (2, "carol-contract-1", Category.ILLEGAL_STATE, Code.CONTRACT_NOT_MIGRATING),
        (3, "carol-contract-2", Category.INVALID, Code.DATE_IN_THE_FUTURE),
    ]
    assert _counters(engine, "carol-contract-0")[("", "shared_seconds")] == 120
    assert _counters(engine, "carol-contract-1") == {}
    assert _counters(engine, "carol-contract-2") == {}


@pytest.mark.parametrize("batch_size", [pytest.param(1000, id="same-batch"), pytest.param(1, id="batches-apart")])
def test_a_contract_repeated_anywhere_in_the_file_is_refused_at_its_second_line(
    engine: Engine, family: list[str], monkeypatch: pytest.MonkeyPatch, batch_size: int
) -> None:
    monkeypatch.setattr("kopek.limits.CONTRACT_STATES_BATCH_MAX", batch_size)
    engine.begin_migration(None)
    lines = _lines(
        state_document("carol-contract-0", snapshot_days=1),
        state_document("carol-contract-1"),
        state_document("carol-contract-0", snapshot_days=2),
    )
    report = engine.restore_contract_states(lines, RestoreMode.BEST_EFFORT)
    assert (report.states_restored, report.states_failed) == (2, 1)
    assert [(failure.line, failure.contract_id, failure.code) for failure in report.failures] == [
        (3, "carol-contract-0", Code.CONTRACT_STATE_REPEATED)
    ]
    (state,) = engine.export_contract_states(["carol-contract-0"])
    assert state.snapshot_days == 1


def test_a_contract_repeated_in_the_file_refuses_an_all_or_nothing_restore(
    engine: Engine, family: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("kopek.limits.CONTRACT_STATES_BATCH_MAX", 1)
    engine.begin_migration(None)
    before = snapshot(engine)
    lines = _lines(state_document("carol-contract-0"), state_document("carol-contract-1"), state_document("carol-contract-0"))
    report = engine.restore_contract_states(lines, RestoreMode.ALL_OR_NOTHING)
    assert (report.committed, report.states_restored, [failure.code for failure in report.failures]) == (
        False,
        0,
        [Code.CONTRACT_STATE_REPEATED],
    )
    assert snapshot(engine) == before


def _refuse_counters_of(engine: Engine, contract_id: str) -> None:
    """A database trigger that refuses every counter row of ``contract_id``: a fault only the database sees."""
    with engine.database.begin() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql(
                f"CREATE TRIGGER refuse_counters BEFORE INSERT ON counters WHEN NEW.contract_id = '{contract_id}'"
                " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            )
            return
        connection.exec_driver_sql(
            "CREATE FUNCTION refuse_counters() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            f" IF NEW.contract_id = '{contract_id}' THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$"
        )
        connection.exec_driver_sql(
            "CREATE TRIGGER refuse_counters BEFORE INSERT ON counters FOR EACH ROW EXECUTE FUNCTION refuse_counters()"
        )


def test_best_effort_loses_only_the_contract_the_database_refuses(engine: Engine, family: list[str]) -> None:
    engine.begin_migration(None)
    _refuse_counters_of(engine, "carol-contract-1")
    lines = _lines(*(state_document(contract_id, snapshot_days=index) for index, contract_id in enumerate(family)))
    report = engine.restore_contract_states(lines, RestoreMode.BEST_EFFORT)
    assert (report.committed, report.states_restored, report.states_failed) == (True, 2, 1)
    (failure,) = report.failures
    assert (failure.line, failure.contract_id, failure.category, failure.code) == (
        2,
        "carol-contract-1",
        Category.ILLEGAL_SYSTEM_STATE,
        Code.UNEXPECTED_FAULT,
    )
    assert [state.snapshot_days for state in engine.export_contract_states(family)] == [0, None, 2]
    assert _counters(engine, "carol-contract-2") == {("", "shared_seconds"): Decimal(120), ("main", "sms_sent"): Decimal(7)}


def _outcome(engine: Engine, lines: list[str]) -> tuple[list[tuple[int, str | None, Code]], list[str]]:
    report = engine.restore_contract_states(lines, RestoreMode.BEST_EFFORT)
    return [(failure.line, failure.contract_id, failure.code) for failure in report.failures], [
        state.line() for state in engine.export_contract_states()
    ]


def test_what_best_effort_restores_does_not_depend_on_batch_boundaries(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    contract_ids = build_family(engine, contracts=6)
    engine.begin_migration(contract_ids[:5])
    documents = [state_document(contract_id, snapshot_days=index) for index, contract_id in enumerate(contract_ids)]
    documents[1] = state_document("carol-contract-1", last_snapshot_date="2027-01-01T00:00:00Z")  # in the future
    documents.insert(3, state_document("nobody"))
    documents.append(state_document("carol-contract-2", snapshot_days=99))  # repeated
    lines = [*_lines(*documents), "{broken"]
    outcomes = []
    for batch_size in (1, 2, 3, 1000):
        monkeypatch.setattr("kopek.limits.CONTRACT_STATES_BATCH_MAX", batch_size)
        outcomes.append(_outcome(engine, lines))
    failures, exported = outcomes[0]
    assert all(outcome == outcomes[0] for outcome in outcomes)
    assert [code for _, _, code in failures] == [
        Code.DATE_IN_THE_FUTURE,
        Code.NOT_FOUND,
        Code.CONTRACT_NOT_MIGRATING,
        Code.CONTRACT_STATE_REPEATED,
        Code.CONTRACT_STATE_INVALID,
    ]
    assert len(exported) == 6


def test_restores_are_audited_with_who_when_mode_and_counts(engine: Engine, family: list[str]) -> None:
    engine.begin_migration(None, actor="migration-team")
    engine.restore_contract_states(
        _lines(state_document("carol-contract-0"), state_document("nobody")), RestoreMode.BEST_EFFORT, actor="migration-team"
    )
    entry = engine.audit_log(1)[0]
    assert (entry["actor"], entry["action"], entry["at"]) == ("migration-team", "contract_states.restore", engine.now())
    assert entry["details"] == {
        "mode": "BEST_EFFORT",
        "committed": True,
        "states_read": 2,
        "states_restored": 1,
        "states_failed": 1,
        "failures_truncated": False,
    }


def test_restore_writes_in_batches_across_many_contracts(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    contract_ids = build_family(engine, contracts=7)
    monkeypatch.setattr("kopek.limits.CONTRACT_STATES_BATCH_MAX", 3)
    engine.begin_migration(None)
    documents = [state_document(contract_id, snapshot_days=index) for index, contract_id in enumerate(contract_ids)]
    report = engine.restore_contract_states(_lines(*documents), RestoreMode.ALL_OR_NOTHING)
    assert report.states_restored == 7
    with UnitOfWork(engine.database, writes=False) as uow:
        days = dict(uow.connection.execute(sa.select(contracts.c.id, contracts.c.snapshot_days)).all())
        assert uow.connection.execute(sa.select(sa.func.count()).select_from(activations)).scalar_one() == 0
    assert days == {contract_id: index for index, contract_id in enumerate(contract_ids)}


def test_the_failure_list_is_bounded_but_every_failure_is_counted(
    engine: Engine, family: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("kopek.limits.RESTORE_FAILURES_REPORTED_MAX", 2)
    report = engine.restore_contract_states(["{"] * 5, RestoreMode.BEST_EFFORT)
    assert (report.states_failed, len(report.failures), report.failures_truncated) == (5, 2, True)


def test_charging_tables_are_the_ones_a_restore_leaves_alone() -> None:
    # The money-and-charges comparison above relies on counters being the one charging table restore writes.
    assert "counters" in {table.name for table in CHARGING_TABLES}


def test_a_second_restore_replaces_what_the_first_wrote_activations_and_their_counters_included(engine: Engine, family: list[str]) -> None:
    engine.begin_migration(["carol-contract-1"])
    bonus = {"name": "bonus_sms", "unit": "events", "value": "4", "expires_at": "2026-09-01T00:00:00Z"}
    activation = {"id": "main", "item_id": "main", "kind": "charge", "status": "active", "counters": [bonus]}
    first = state_document("carol-contract-1", shared_counters=[], items=[], activations=[activation])
    assert engine.restore_contract_states(_lines(first), RestoreMode.BEST_EFFORT).states_restored == 1
    (state,) = engine.export_contract_states(["carol-contract-1"])
    assert [(counter.name, counter.value) for counter in state.activations[0].counters] == [("bonus_sms", Decimal(4))]

    assert engine.restore_contract_states(_lines(state_document("carol-contract-1")), RestoreMode.BEST_EFFORT).states_restored == 1
    (state,) = engine.export_contract_states(["carol-contract-1"])
    assert (state.activations, len(state.shared_counters), len(state.items)) == ((), 1, 1)
