"""The newest catalog and the active API keys are kept in memory; another process's changes are seen within a second.

A "process" here is a second :class:`Engine` on the same database: it shares nothing in
memory with the first, as the CLI shares nothing with a running server. The caches measure
their age on a fake monotonic clock that the tests advance, so nothing waits or races.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from kopek import Engine, ResultOptions
from kopek.admin.api_keys import ApiKeyRole
from kopek.store.freshness import CACHE_FRESH_SECONDS
from tests.fakes import FakeTicks, FixedClock, SequentialIds
from tests.worlds import build_world, call, catalog_document

JUST_UNDER_FRESH_SECONDS = CACHE_FRESH_SECONDS * 0.9
WITH_VERSION = ResultOptions(charging_process_info=True)


def catalog_version_of_a_call(engine: Engine) -> int:
    info = engine.charge(call(), WITH_VERSION).charging_process_info
    assert info is not None
    return info.catalog_version


def another_catalog() -> Any:
    changed = catalog_document()
    changed["charge_plans"][0]["charges"][1]["price"]["amount"] = "0.20"
    return changed


@pytest.fixture
def ticks() -> FakeTicks:
    return FakeTicks()


@pytest.fixture
def server(any_url: str, clock: FixedClock, ticks: FakeTicks) -> Iterator[Engine]:
    """The engine a long-running server holds, with caches on the fake monotonic clock."""
    with Engine(any_url, clock=clock, new_id=SequentialIds(), ticks=ticks) as opened:
        yield opened


@pytest.fixture
def cli(any_url: str, clock: FixedClock) -> Iterator[Engine]:
    """Another process on the same database, as ``kopek api-keys`` or ``kopek catalog load`` is."""
    with Engine(any_url, clock=clock, new_id=SequentialIds("cli")) as opened:
        yield opened


def role_of(engine: Engine, secret: str) -> ApiKeyRole:
    key = engine.authenticate(secret).key
    assert key is not None
    return key.role


def statements_of(engine: Engine) -> list[str]:
    """Collects the SQL that ``engine`` sends from now on."""
    sent: list[str] = []

    def record(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    sa.event.listen(engine.database, "before_cursor_execute", record)
    return sent


def test_a_key_revoked_by_another_process_stops_working_within_a_second(server: Engine, cli: Engine, ticks: FakeTicks) -> None:
    secret = cli.create_api_key("switch", ApiKeyRole.CHARGING).secret
    cli.create_api_key("operator", ApiKeyRole.ADMIN)
    assert server.authenticate(secret).key is not None

    cli.revoke_api_key("switch")
    ticks.advance(JUST_UNDER_FRESH_SECONDS)
    still_cached = server.authenticate(secret).key
    ticks.advance(CACHE_FRESH_SECONDS - JUST_UNDER_FRESH_SECONDS)
    after_a_second = server.authenticate(secret)

    assert still_cached is not None and still_cached.name == "switch"
    assert after_a_second.key is None and after_a_second.keys_in_use


def test_a_key_created_by_another_process_works_within_a_second_and_closes_an_open_api(
    server: Engine, cli: Engine, ticks: FakeTicks
) -> None:
    assert not server.authenticate(None).keys_in_use

    secret = cli.create_api_key("switch", ApiKeyRole.CHARGING).secret
    ticks.advance(CACHE_FRESH_SECONDS)
    access = server.authenticate(secret)

    assert access.keys_in_use and access.key is not None and access.key.role is ApiKeyRole.CHARGING


def test_a_role_changed_in_the_table_is_seen_within_a_second(server: Engine, cli: Engine, ticks: FakeTicks) -> None:
    secret = cli.create_api_key("switch", ApiKeyRole.ADMIN).secret
    assert role_of(server, secret) is ApiKeyRole.ADMIN

    with cli.database.begin() as connection:
        connection.exec_driver_sql("UPDATE api_keys SET role = 'read' WHERE name = 'switch'")
    ticks.advance(CACHE_FRESH_SECONDS)

    assert role_of(server, secret) is ApiKeyRole.READ


def test_keys_created_or_revoked_by_the_same_engine_count_at_once(server: Engine) -> None:
    secret = server.create_api_key("switch", ApiKeyRole.CHARGING).secret
    server.create_api_key("operator", ApiKeyRole.ADMIN)
    assert server.authenticate(secret).key is not None

    server.revoke_api_key("switch")

    assert server.authenticate(secret).key is None


def test_a_request_within_a_second_of_the_last_read_sends_no_statement(server: Engine, cli: Engine, ticks: FakeTicks) -> None:
    secret = cli.create_api_key("switch", ApiKeyRole.CHARGING).secret
    server.authenticate(secret)
    sent = statements_of(server)

    for _ in range(3):
        ticks.advance(CACHE_FRESH_SECONDS / 4)
        assert server.authenticate(secret).key is not None

    assert sent == []


def test_keys_answer_from_memory_only_while_fresh_so_a_server_sends_the_read_to_a_thread(
    server: Engine, cli: Engine, ticks: FakeTicks
) -> None:
    secret = cli.create_api_key("switch", ApiKeyRole.CHARGING).secret
    before_any_read = server.authenticate_from_memory(secret)
    server.authenticate(secret)
    sent = statements_of(server)

    ticks.advance(JUST_UNDER_FRESH_SECONDS)
    fresh = server.authenticate_from_memory(secret)
    ticks.advance(CACHE_FRESH_SECONDS - JUST_UNDER_FRESH_SECONDS)
    stale = server.authenticate_from_memory(secret)

    assert before_any_read is None and stale is None
    assert fresh is not None and fresh.key is not None and fresh.key.name == "switch"
    assert sent == []


def test_a_catalog_loaded_by_another_process_is_used_within_a_second(server: Engine, cli: Engine, ticks: FakeTicks) -> None:
    build_world(server)
    first = catalog_version_of_a_call(server)

    cli.load_catalog(another_catalog())
    ticks.advance(JUST_UNDER_FRESH_SECONDS)
    within = catalog_version_of_a_call(server)
    ticks.advance(CACHE_FRESH_SECONDS - JUST_UNDER_FRESH_SECONDS)
    after = catalog_version_of_a_call(server)

    assert (first, within, after) == (1, 1, 2)


def test_a_catalog_loaded_by_the_same_engine_is_used_at_once(server: Engine) -> None:
    build_world(server)
    assert catalog_version_of_a_call(server) == 1

    server.load_catalog(another_catalog())

    assert catalog_version_of_a_call(server) == 2


def test_a_charge_within_a_second_of_the_last_check_reads_no_catalog_version(server: Engine, ticks: FakeTicks) -> None:
    build_world(server)
    server.charge(call())
    sent = statements_of(server)

    ticks.advance(JUST_UNDER_FRESH_SECONDS)
    server.charge(call())
    ticks.advance(CACHE_FRESH_SECONDS)
    server.charge(call())

    catalog_reads = [statement for statement in sent if "catalogs" in statement]
    assert len(catalog_reads) == 1 and "max(catalogs.version)" in catalog_reads[0]
