"""Property: a rating job's outcome equals charging each CDR through ``Engine.charge`` in the job's order.

The reference applies the mode's rule itself (order; first-fail skips a contract after
its first refusal) with single charges, on its own SQLite file; balances, counters,
charged items and every CDR's status must match to the last decimal.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kopek import Engine, KopekError
from kopek.batch.rating_jobs import RatingMode
from kopek.domain.item import ChargeableItem
from kopek.store.database import database_url
from tests.conftest import POSTGRES_URL, postgres_schema_url
from tests.fakes import FixedClock, SequentialIds
from tests.integration.test_batch_rating_jobs import state
from tests.worlds import build_world

START = datetime(2026, 6, 1, tzinfo=UTC)
CONTRACT_KEYS = {
    "alice-msisdn": "contract/alice-contract",
    "bob-msisdn": "contract/bob-contract",
    "nobody-msisdn": "access/mobile/nobody-msisdn",
}

cdr_strategy = st.tuples(
    st.sampled_from(list(CONTRACT_KEYS)),
    st.integers(min_value=0, max_value=2 * 24 * 60),
    st.sampled_from([("sms", "33123", None), ("voice_call", "33123", "90"), ("voice_call", "44123", "400"), ("voice_call", "999", "10")]),
)
MODES = [RatingMode.DAY_SUBSCRIPTION_FIRST_FAIL, RatingMode.DAY_MOST, RatingMode.SUBSCRIPTION_FIRST_FAIL, RatingMode.SUBSCRIPTION_MOST]


def _records(drawn: list[tuple[str, int, tuple[str, str, str | None]]]) -> list[dict[str, Any]]:
    records = []
    for number, (user, minute, (item_class, destination, seconds)) in enumerate(drawn):
        properties = {"destination": destination} | ({"duration": seconds} if seconds else {})
        at = (START + timedelta(minutes=minute)).isoformat()
        records.append(
            {
                "id": f"c{number:03d}",
                "item_class": item_class,
                "consumption_date": at,
                "service_id": "mobile",
                "user_id": user,
                "properties": properties,
            }
        )
    return records


def _reference(path: Path, records: list[dict[str, Any]], mode: RatingMode) -> tuple[dict[str, Any], dict[str, str]]:
    ordered = sorted(records, key=lambda record: (datetime.fromisoformat(record["consumption_date"]), record["id"]))
    if mode.value.startswith("SUBSCRIPTION"):
        ordered.sort(key=lambda record: CONTRACT_KEYS[record["user_id"]])
    statuses: dict[str, str] = {}
    failed: set[str] = set()
    with Engine(f"sqlite:///{path}", clock=FixedClock(), new_id=SequentialIds("ref")) as single:
        build_world(single, alice_balance="3.00")
        for record in ordered:
            key = CONTRACT_KEYS[record["user_id"]]
            if mode.value.endswith("FIRST_FAIL") and key in failed:
                statuses[record["id"]] = "skipped"
                continue
            at = datetime.fromisoformat(record["consumption_date"])
            try:
                single.charge(
                    ChargeableItem(record["item_class"], at, "mobile", record["user_id"], record["properties"]),
                    idempotency_key=record["id"],
                )
                statuses[record["id"]] = "charged"
            except KopekError:
                statuses[record["id"]] = "failed"
                failed.add(key)
        return state(single), statuses


counter = itertools.count()


@contextmanager
def fresh_database(kind: str, tmp_path: Path) -> Iterator[str]:
    """A new, empty database for one example: a SQLite file or a PostgreSQL schema dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / f'job-{next(counter)}.db'}"
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


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=st.lists(cdr_strategy, min_size=1, max_size=25), mode=st.sampled_from(MODES), chunk_cdrs=st.sampled_from([1, 3, 1000]))
def test_a_job_equals_single_charges_in_the_same_order(
    tmp_path: Path, database: str, drawn: list[tuple[str, int, tuple[str, str, str | None]]], mode: RatingMode, chunk_cdrs: int
) -> None:
    records = _records(drawn)
    expected_state, expected_statuses = _reference(tmp_path / f"reference-{next(counter)}.db", records, mode)
    with (
        fresh_database(database, tmp_path) as url,
        Engine(url, clock=FixedClock(), new_id=SequentialIds("job")) as engine,
    ):
        build_world(engine, alice_balance="3.00")
        engine.import_cdrs(enumerate(records, start=1), strict=True)
        engine.run_rating_job(engine.start_rating_job(mode), chunk_cdrs=chunk_cdrs)
        assert {record["id"]: engine.cdr(record["id"]).status for record in records} == expected_statuses
        assert state(engine) == expected_state
