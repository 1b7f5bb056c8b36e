"""Every administrative and money-creating operation writes an audit record: actor, time, action, target, outcome."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kopek import Engine, KopekError
from kopek.admin.master_data import (
    AccessInput,
    AccountInput,
    AdjustmentInput,
    ContractInput,
    ContractUpdate,
    MasterDataDocument,
    SubscriberAccountInput,
    SubscriberAccountUpdate,
)
from kopek.charging.refills import RefillCommand
from kopek.domain.master import SubscriberAccountStatus
from kopek.store.audit_store import AuditFilter
from tests.fakes import FixedClock
from tests.fee_world import build

ACTOR = "cli:ops"


def _last(engine: Engine) -> tuple[str, str, str, str]:
    (record, *_) = engine.audit_log(limit=1)
    return record["actor"], record["action"], record["target"], record["outcome"]


Operation = Callable[[Engine, Path], Any]

OPERATIONS: list[Any] = [
    pytest.param(
        lambda engine, _: engine.refill(RefillCommand("r-1", "ann-contract", "topup", Decimal("20.00")), actor=ACTOR),
        ("refill.apply", "contract/ann-contract"),
        id="refill",
    ),
    pytest.param(
        lambda engine, _: engine.run_fees(engine.now(), actor=ACTOR),
        ("fees.run", "fees"),
        id="fee-run",
    ),
    pytest.param(
        lambda engine, _: engine.update_subscriber_account(
            "ann", SubscriberAccountUpdate(status=SubscriberAccountStatus.BLOCKED), actor=ACTOR
        ),
        ("subscriber_account.update", "subscriber-account/ann"),
        id="blocking",
    ),
    pytest.param(
        lambda engine, _: engine.update_contract("ann-contract", ContractUpdate(valid_to=engine.now() + timedelta(days=30)), actor=ACTOR),
        ("contract.update", "contract/ann-contract"),
        id="contract-update",
    ),
    pytest.param(
        lambda engine, folder: engine.export_item_files(folder, actor=ACTOR),
        ("item_files.export", "item-files"),
        id="item-file-export",
    ),
    pytest.param(
        lambda engine, _: engine.adjust_balance("ann-prepaid", AdjustmentInput(amount=Decimal("1.00")), actor=ACTOR),
        ("account.adjust", "account/ann-prepaid"),
        id="adjustment",
    ),
    pytest.param(
        lambda engine, _: engine.create_subscriber_account(
            SubscriberAccountInput.model_validate(
                {"id": "eve", "currency": "EUR", "accounts": [{"id": "eve-p", "kind": "prepaid", "initial_balance": "3"}]}
            ),
            actor=ACTOR,
        ),
        ("subscriber_account.create", "subscriber-account/eve"),
        id="opening-balance",
    ),
    pytest.param(
        lambda engine, _: engine.add_account("ann", AccountInput.model_validate({"id": "ann-2", "kind": "postpaid"}), actor=ACTOR),
        ("account.create", "account/ann-2"),
        id="account",
    ),
    pytest.param(
        lambda engine, _: engine.create_access(
            AccessInput.model_validate(
                {"service_id": "tv", "user_id": "ann-box", "contract_id": "ann-contract", "valid_from": engine.now().isoformat()}
            ),
            actor=ACTOR,
        ),
        ("access.create", "access/tv/ann-box"),
        id="access",
    ),
    pytest.param(
        lambda engine, _: engine.load_master_data(
            MasterDataDocument.model_validate({"subscriber_accounts": [{"id": "fay", "currency": "EUR"}]}), actor=ACTOR
        ),
        ("master_data.load", "master-data"),
        id="master-data",
    ),
    pytest.param(
        lambda engine, _: engine.cleanup_expired_sessions(actor=ACTOR),
        ("sessions.cleanup", "sessions"),
        id="session-cleanup",
    ),
]


@pytest.fixture
def world(engine: Engine) -> Engine:
    build(engine, "monthly", balance="10.00")
    return engine


@pytest.mark.parametrize(("operation", "expected"), OPERATIONS)
def test_an_operation_is_audited_with_its_actor_target_and_outcome(
    world: Engine, tmp_path: Path, operation: Operation, expected: tuple[str, str]
) -> None:
    operation(world, tmp_path)

    assert _last(world) == (ACTOR, *expected, "succeeded")


def test_a_contract_creation_is_audited(world: Engine) -> None:
    contract = ContractInput.model_validate(
        {"id": "ann-2", "subscriber_account_id": "ann", "valid_from": world.now().isoformat(), "roles": {"payer": "ann-prepaid"}}
    )

    world.create_contract(contract, actor=ACTOR)

    assert _last(world) == (ACTOR, "contract.create", "contract/ann-2", "succeeded")


def test_a_refused_operation_is_audited_as_refused_with_its_error(world: Engine) -> None:
    with pytest.raises(KopekError):
        world.adjust_balance("ann-prepaid", AdjustmentInput(amount=Decimal("-1000.00")), actor=ACTOR)

    (record, *_) = world.audit_log(limit=1)
    assert (record["action"], record["outcome"]) == ("account.adjust", "refused")
    assert record["details"]["error"] == {"category": "ILLEGAL_STATE", "code": "prepaid_balance_cannot_cover"}
    assert world.account("ann-prepaid").balance == Decimal("10.00")


def test_a_replayed_refill_adds_no_record(world: Engine) -> None:
    command = RefillCommand("r-1", "ann-contract", "topup", Decimal("20.00"))
    world.refill(command, actor=ACTOR)
    records = len(world.audit_records(limit=1000))

    assert world.refill(command, actor=ACTOR).replayed
    assert len(world.audit_records(limit=1000)) == records


def test_audit_records_are_read_oldest_first_by_filter_and_cursor(world: Engine, clock: FixedClock) -> None:
    for amount in ("1.00", "2.00", "3.00"):
        world.adjust_balance("ann-prepaid", AdjustmentInput(amount=Decimal(amount)), actor=ACTOR)
        clock.advance(minutes=1)
    adjustments = AuditFilter(action="account.adjust", actor=ACTOR)

    first = world.audit_records(adjustments, limit=2)
    rest = world.audit_records(adjustments, after_id=first[-1].id, limit=2)
    since = world.audit_records(AuditFilter(action="account.adjust", since=first[1].at))

    assert [record.details["amount"] for record in first + rest] == ["1.00", "2.00", "3.00"]
    assert [record.details["amount"] for record in since] == ["2.00", "3.00"]
    assert world.audit_records(AuditFilter(outcome="refused")) == []
