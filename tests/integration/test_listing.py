"""Finding and listing every resource through kopek.Engine: filters that combine, pages in id order with a cursor."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from kopek import AccessInput, AccountUpdate, ContractInput, ContractUpdate, Engine, KopekError, StopSession, SubscriberAccountInput
from kopek.batch.rating_jobs import JobState, RatingMode
from kopek.charging.session_views import SessionStatus
from kopek.domain.master import AccountStatus, ContractStatus, SubscriberAccountStatus
from kopek.errors import Code
from kopek.paging import page
from tests.integration.sessions_support import start_call
from tests.worlds import AT, START, build_world, catalog_document


@pytest.fixture
def world(engine: Engine) -> Engine:
    build_world(engine)
    for holder in ("carol", "dave", "erin"):
        engine.create_subscriber_account(
            SubscriberAccountInput.model_validate(
                {"id": holder, "currency": "EUR", "status": "blocked" if holder == "dave" else "active",
                 "accounts": [{"id": f"{holder}-prepaid", "kind": "prepaid", "initial_balance": "5.00"}]}
            )
        )  # fmt: skip
        engine.create_contract(
            ContractInput.model_validate(
                {"id": f"{holder}-contract", "subscriber_account_id": holder, "valid_from": START.isoformat(),
                 "valid_to": (AT - timedelta(days=1)).isoformat() if holder == "erin" else None,
                 "parent_id": "alice-contract" if holder == "carol" else None,
                 "items": [{"id": "main", "charge_plan": "mobile"}],
                 "roles": {"payer": "bob-postpaid" if holder == "carol" else f"{holder}-prepaid"}}
            )
        )  # fmt: skip
    engine.create_access(
        AccessInput.model_validate(
            {"service_id": "mobile", "user_id": "carol-msisdn", "contract_id": "carol-contract", "valid_from": AT.isoformat()}
        )
    )
    return engine


def _all(fetch: Callable[[Any, int], list[Any]], first: Any, key: Callable[[Any], Any], *, limit: int = 2) -> list[Any]:
    """Every record, read ``limit`` at a time by following the cursor."""
    found, after = page(fetch, first, limit, key)
    records = list(found)
    while after is not None:
        found, after = page(fetch, after, limit, key)
        records += found
    return records


def test_subscriber_accounts_by_status_and_in_pages(world: Engine) -> None:
    every = _all(lambda cursor, size: world.subscriber_accounts(after_id=cursor, limit=size), "", lambda view: view.id)

    assert [view.id for view in every] == ["alice", "bob", "carol", "dave", "erin"]
    assert [view.id for view in world.subscriber_accounts(status=SubscriberAccountStatus.BLOCKED)] == ["dave"]
    assert [(account.account_id, str(account.balance)) for account in every[0].accounts] == [("alice-prepaid", "10.00")]
    assert every[2].contract_ids == ["carol-contract"]


def test_contracts_by_holder_status_plan_payer_parent_and_validity(world: Engine) -> None:
    world.update_contract("bob-contract", ContractUpdate(status=ContractStatus.LOCKED))

    assert [view.id for view in world.contracts(subscriber_account_id="carol")] == ["carol-contract"]
    assert [view.id for view in world.contracts(status=ContractStatus.LOCKED)] == ["bob-contract"]
    assert [view.id for view in world.contracts(account_id="bob-postpaid")] == ["bob-contract", "carol-contract"]
    assert [view.id for view in world.contracts(parent_id="alice-contract")] == ["carol-contract"]
    assert [view.id for view in world.contracts(charge_plan="nope")] == []
    valid = [view.id for view in world.contracts(valid_at=AT, charge_plan="mobile")]
    assert valid == ["alice-contract", "bob-contract", "carol-contract", "dave-contract"]  # erin's ended the day before


def test_accesses_by_service_user_contract_and_validity_in_pages(world: Engine) -> None:
    every = _all(lambda cursor, size: world.accesses(after_id=cursor, limit=size), 0, lambda view: view.id)

    assert [view.user_id for view in every] == ["alice-msisdn", "bob-msisdn", "carol-msisdn"]
    assert [view.id for view in world.accesses("mobile", "bob-msisdn")] == [every[1].id]
    assert [view.user_id for view in world.accesses(contract_id="carol-contract")] == ["carol-msisdn"]
    assert [view.user_id for view in world.accesses(valid_at=AT - timedelta(seconds=1))] == ["alice-msisdn", "bob-msisdn"]


def test_cdrs_by_status_contract_date_and_job(world: Engine) -> None:
    rows = [
        (1, {"id": f"c{number}", "item_class": "sms", "consumption_date": (AT + timedelta(hours=number)).isoformat(),
             "service_id": "mobile", "user_id": user, "properties": {"destination": "33123"}})
        for number, user in enumerate(["alice-msisdn", "bob-msisdn", "alice-msisdn", "nobody"])
    ]  # fmt: skip
    world.import_cdrs(rows)

    before = [view.id for view in world.cdrs(contract_id="alice-contract")]
    job = world.start_rating_job(RatingMode.DAY_MOST, None)
    world.run_rating_job(job)

    assert before == ["c0", "c2"]  # not rated yet: the contract the access selects
    assert [view.id for view in world.cdrs(contract_id="alice-contract")] == ["c0", "c2"]
    assert [view.id for view in world.cdrs(status="failed")] == ["c3"]
    assert [view.id for view in world.cdrs(job_id=job, date_from=AT + timedelta(hours=1), date_to=AT + timedelta(hours=3))] == ["c1", "c2"]
    assert [view.id for view in world.cdrs(after_id="c1", limit=1)] == ["c2"]


def test_rating_jobs_by_state(world: Engine) -> None:
    first = world.start_rating_job(RatingMode.DAY_MOST, None)
    world.run_rating_job(first)
    second = world.start_rating_job(RatingMode.DAY_MOST, None)

    assert [job.id for job in world.rating_jobs()] == [first, second]
    assert [(job.id, job.state) for job in world.rating_jobs(state=JobState.QUEUED)] == [(second, JobState.QUEUED)]
    assert world.rating_jobs(after_id=first)[0].id == second


def test_catalog_versions_and_a_readable_diff_between_two(world: Engine) -> None:
    document = catalog_document()
    document["charge_plans"][0]["charges"][1]["price"]["amount"] = "0.12"
    world.load_catalog(document)

    versions = world.catalog_versions()
    diff = world.catalog_diff(1)

    assert [version.version for version in versions] == [1, 2]
    assert [(change.kind.value, change.path, change.before, change.after) for change in diff.changes] == [
        ("changed", "charge_plans[mobile@1].charges[sms].price.amount", "0.10", "0.12")
    ]
    assert (diff.from_version, diff.to_version, diff.changes_total) == (1, 2, 1)
    assert world.catalog_diff(2, 1).changes[0].after == "0.10"
    old_sms = world.catalog_version(1).catalog.model_dump(mode="json")["charge_plans"][0]["charges"][1]["price"]
    assert old_sms["amount"] == "0.10"
    with pytest.raises(KopekError) as missing:
        world.catalog_version(3)
    assert missing.value.code is Code.NOT_FOUND


def test_sessions_live_or_ended_by_status_holder_and_contract(world: Engine) -> None:
    world.start_session(start_call("s1"))
    world.start_session(start_call("s2", user="bob-msisdn"))
    world.stop_session(StopSession("s1", used_quantity="60"))

    assert [view.session_id for view in world.sessions()] == ["s1", "s2"]
    assert [view.session_id for view in world.sessions(status=SessionStatus.ACTIVE)] == ["s2"]
    assert [view.session_id for view in world.sessions(subscriber_account_id="alice")] == ["s1"]
    assert [view.session_id for view in world.sessions(contract_id="bob-contract", status=SessionStatus.STOPPED)] == []


@pytest.mark.parametrize("after_id", ["x" * 129, "a\x00b"])
def test_a_cursor_that_cannot_be_an_id_is_invalid(world: Engine, after_id: str) -> None:
    with pytest.raises(KopekError) as refused:
        world.contracts(after_id=after_id)

    assert refused.value.code is Code.REQUEST_INVALID


def test_an_account_status_shows_in_the_listing(world: Engine) -> None:
    world.update_account("erin-prepaid", AccountUpdate(status=AccountStatus.CLOSED))

    (erin,) = world.subscriber_accounts(after_id="dave")

    assert [account.status for account in erin.accounts] == [AccountStatus.CLOSED]
