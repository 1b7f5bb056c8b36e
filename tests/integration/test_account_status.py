"""A status per account: one prepaid or postpaid account blocked, locked or closed refuses charges on its own,
whatever its subscriber account's status (the reference product's account states)."""

from __future__ import annotations

import pytest

from kopek import AccountInput, AccountUpdate, ContractUpdate, Engine, KopekError, StartSession
from kopek.domain.master import AccountStatus
from kopek.errors import Category, Code, Reason
from tests.worlds import AT, balance, build_world, call


@pytest.fixture
def world(engine: Engine) -> Engine:
    build_world(engine)
    return engine


@pytest.mark.parametrize(
    ("status", "code", "reason"),
    [
        pytest.param(AccountStatus.BLOCKED, Code.ACCOUNT_BLOCKED, Reason.ACCOUNT_BLOCKED, id="blocked"),
        pytest.param(AccountStatus.LOCKED, Code.ACCOUNT_LOCKED, Reason.ACCOUNT_LOCKED, id="locked"),
        pytest.param(AccountStatus.CLOSED, Code.ACCOUNT_CLOSED, Reason.ACCOUNT_CLOSED, id="closed"),
    ],
)
def test_an_account_of_an_active_subscriber_account_refuses_charges_by_its_own_status(
    world: Engine, status: AccountStatus, code: Code, reason: Reason
) -> None:
    updated = world.update_account("alice-prepaid", AccountUpdate(status=status))

    with pytest.raises(KopekError) as refused:
        world.charge(call())

    assert updated.status is status
    assert world.subscriber_account("alice").status == "active"
    assert (refused.value.category, refused.value.code, refused.value.reason) == (Category.ILLEGAL_STATE, code, reason)
    assert str(balance(world, "alice-prepaid")) == "10.00"


def test_one_blocked_account_leaves_the_other_accounts_of_its_holder_chargeable(world: Engine) -> None:
    world.add_account("alice", AccountInput.model_validate({"id": "alice-second", "kind": "prepaid", "initial_balance": "5.00"}))
    world.update_account("alice-prepaid", AccountUpdate(status=AccountStatus.BLOCKED))
    world.update_contract("alice-contract", ContractUpdate(roles={"payer": "alice-second"}))

    charged = world.charge(call())

    assert charged.charged_items is not None and charged.charged_items[0].account_id == "alice-second"


def test_unblocking_an_account_makes_it_chargeable_again_and_each_change_is_audited(world: Engine) -> None:
    world.update_account("alice-prepaid", AccountUpdate(status=AccountStatus.BLOCKED), actor="ops")
    world.update_account("alice-prepaid", AccountUpdate(status=AccountStatus.ACTIVE), actor="ops")

    world.charge(call())

    records = [(record.action, record.target, record.details) for record in world.audit_records() if record.action == "account.update"]
    assert records == [
        ("account.update", "account/alice-prepaid", {"status": "blocked"}),
        ("account.update", "account/alice-prepaid", {"status": "active"}),
    ]


def test_a_session_cannot_start_on_a_locked_account(world: Engine) -> None:
    world.update_account("alice-prepaid", AccountUpdate(status=AccountStatus.LOCKED))
    start = StartSession("s1", "voice_call", "mobile", "alice-msisdn", AT, 60_000, "duration", {"destination": "33123"}, "60")

    with pytest.raises(KopekError) as refused:
        world.start_session(start)

    assert refused.value.code is Code.ACCOUNT_LOCKED


def test_an_account_opened_blocked_refuses_charges_from_the_start(world: Engine) -> None:
    world.add_account("bob", AccountInput.model_validate({"id": "bob-spare", "kind": "postpaid", "status": "blocked"}))

    assert world.account("bob-spare").status is AccountStatus.BLOCKED
    assert [account.status for account in world.subscriber_account("bob").accounts] == [AccountStatus.ACTIVE, AccountStatus.BLOCKED]


def test_updating_a_missing_account_does_not_exist(world: Engine) -> None:
    with pytest.raises(KopekError) as refused:
        world.update_account("nobody", AccountUpdate(status=AccountStatus.CLOSED))

    assert refused.value.code is Code.NOT_FOUND
