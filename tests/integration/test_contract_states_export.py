"""Export of contract states on SQLite and PostgreSQL: content, selection, pages and one point in time."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kopek import Category, Code, Engine, KopekError
from kopek.migration.state import CONTRACT_NAMESPACE
from tests.contract_state_world import build_family, sms, voice


@pytest.fixture
def family(engine: Engine) -> list[str]:
    contract_ids = build_family(engine)
    engine.charge(voice(0, "100"))
    engine.charge(sms(0))
    engine.charge(sms(0))
    return contract_ids


def test_export_holds_the_stored_counters_of_both_scopes(engine: Engine, family: list[str]) -> None:
    first, second, third = engine.export_contract_states()
    assert [state.contract_id for state in (first, second, third)] == family
    assert [(counter.namespace, counter.name, counter.unit.value, counter.value) for counter in first.shared_counters] == [
        (CONTRACT_NAMESPACE, "shared_seconds", "seconds", Decimal(200))
    ]
    assert [(item.item_id, [(c.name, c.value) for c in item.counters]) for item in first.items] == [("main", [("sms_sent", Decimal(2))])]
    assert (second.shared_counters, second.items, second.activations, second.last_snapshot_date) == ((), (), (), None)


def test_export_of_selected_contracts(engine: Engine, family: list[str]) -> None:
    states = list(engine.export_contract_states(["carol-contract-2", "carol-contract-0", "carol-contract-2"]))
    assert [state.contract_id for state in states] == ["carol-contract-0", "carol-contract-2"]


def test_exporting_an_unknown_contract_fails_before_any_state(engine: Engine, family: list[str]) -> None:
    with pytest.raises(KopekError) as refused:
        engine.export_contract_states(["carol-contract-0", "nobody"])
    assert (refused.value.category, refused.value.code) == (Category.DOES_NOT_EXIST, Code.NOT_FOUND)


def test_export_reads_every_page(engine: Engine, family: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kopek.limits.CONTRACT_STATES_BATCH_MAX", 2)
    assert [state.contract_id for state in engine.export_contract_states()] == family


def test_export_sees_one_point_in_time_while_charging_goes_on(engine: Engine, family: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kopek.limits.CONTRACT_STATES_BATCH_MAX", 1)
    states = engine.export_contract_states()
    first = next(states)
    # Committed after the export began, between two of its pages: not in the export.
    engine.charge(sms(2))
    rest = list(states)
    assert first.contract_id == "carol-contract-0"
    assert [state.contract_id for state in rest] == ["carol-contract-1", "carol-contract-2"]
    assert rest[-1].items == ()
    assert next(iter(engine.export_contract_states(["carol-contract-2"]))).items[0].counters[0].value == 1


def test_an_abandoned_export_releases_its_transaction(engine: Engine, family: list[str]) -> None:
    states = engine.export_contract_states()
    next(states)
    states.close()  # type: ignore[attr-defined]
    engine.begin_migration(None)
    assert engine.contract("carol-contract-0").status == "migrating"
