"""The migration lock on SQLite and PostgreSQL: migrating contracts refuse charging and change nothing."""

from __future__ import annotations

import pytest

from kopek import Category, Code, ContractUpdate, Engine, KopekError
from tests.contract_state_world import build_family, sms, voice
from tests.integration.support import snapshot


@pytest.fixture
def family(engine: Engine) -> list[str]:
    return build_family(engine)


def test_charging_a_migrating_contract_answers_retry_later_and_changes_nothing(engine: Engine, family: list[str]) -> None:
    result = engine.begin_migration(["carol-contract-0"])
    assert (result.contract_ids, result.contracts_changed) == (["carol-contract-0"], 1)
    assert engine.contract("carol-contract-0").status == "migrating"
    before = snapshot(engine)
    for item in (voice(0, "60"), sms(0)):
        with pytest.raises(KopekError) as refused:
            engine.charge(item, idempotency_key="k-1")
        assert (refused.value.category, refused.value.code) == (Category.TEMPORARY_ILLEGAL_STATE, Code.CONTRACT_MIGRATING)
        assert refused.value.retry_after_seconds is not None and refused.value.retry_after_seconds > 0
    assert snapshot(engine) == before
    # Other contracts charge as usual, and the migrating one again once the lock ends.
    engine.charge(sms(1))
    assert engine.end_migration(["carol-contract-0"]).contracts_changed == 1
    assert engine.charge(sms(0), idempotency_key="k-1").charged_items is not None


def test_begin_and_end_can_be_repeated(engine: Engine, family: list[str]) -> None:
    assert engine.begin_migration(None).contracts_changed == 3
    assert engine.begin_migration(["carol-contract-1"]).contracts_changed == 0
    assert engine.end_migration(["carol-contract-1"]).contracts_changed == 1
    assert engine.end_migration(None).contracts_changed == 2
    assert engine.end_migration(None).contracts_changed == 0
    assert {engine.contract(contract_id).status for contract_id in family} == {"active"}


def test_a_contract_locked_by_recharging_cannot_begin_migrating(engine: Engine, family: list[str]) -> None:
    engine.update_contract("carol-contract-2", ContractUpdate.model_validate({"status": "locked"}))
    with pytest.raises(KopekError) as refused:
        engine.begin_migration(["carol-contract-1", "carol-contract-2"])
    assert (refused.value.category, refused.value.code) == (Category.ILLEGAL_STATE, Code.CONTRACT_LOCKED)
    assert engine.contract("carol-contract-1").status == "active"
    # All contracts: the locked one is left as it is.
    assert engine.begin_migration(None).contracts_changed == 2
    assert engine.contract("carol-contract-2").status == "locked"


def test_an_unknown_contract_fails_the_whole_request(engine: Engine, family: list[str]) -> None:
    with pytest.raises(KopekError) as refused:
        engine.begin_migration(["carol-contract-0", "nobody"])
    assert (refused.value.category, refused.value.code) == (Category.DOES_NOT_EXIST, Code.NOT_FOUND)
    assert engine.contract("carol-contract-0").status == "active"


def test_an_empty_selection_is_invalid(engine: Engine, family: list[str]) -> None:
    with pytest.raises(KopekError) as refused:
        engine.begin_migration([])
    assert refused.value.category is Category.INVALID


def test_the_lock_is_audited(engine: Engine, family: list[str]) -> None:
    engine.begin_migration(["carol-contract-0"], actor="ops")
    engine.end_migration(None, actor="ops")
    ended, began = engine.audit_log(2)
    assert (began["actor"], began["action"], began["target"], began["details"]) == (
        "ops",
        "migration.begin",
        "contracts/1",
        {"contract_ids": ["carol-contract-0"], "contracts_changed": 1},
    )
    assert (ended["action"], ended["target"], ended["details"]["contracts_changed"]) == ("migration.end", "contracts/all", 1)


def test_a_selection_past_the_bound_is_refused(engine: Engine, family: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kopek.limits.CONTRACT_STATES_SELECTED_MAX", 2)
    for attempt in (lambda: engine.begin_migration(family), lambda: engine.export_contract_states(family)):
        with pytest.raises(KopekError) as refused:
            attempt()
        assert (refused.value.category, refused.value.code) == (Category.INVALID, Code.LIMIT_EXCEEDED)
    assert engine.begin_migration(family[:2]).contracts_changed == 2
