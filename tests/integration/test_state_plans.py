"""The statements that read a contract's charging state find its rows by their keys on PostgreSQL.

Every offline charge and session step runs them, so a plan that reads a table of contracts, contract items, roles or
counters whole would cost each charge in proportion to the number of contracts. Each statement is planned here as a
warm connection runs it (a prepared statement's generic plan), over a few hundred contracts that have been charged: right
after they were loaded, before the database has statistics of the tables (autovacuum is kept off them), and once it
has. A table that holds fewer rows than that may be read whole, as it costs nothing.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from bench.world import SERVICE, catalog_document, master_data, usage, user

from kopek import Engine
from kopek.store.charge_store import STATE_BY_ACCESS, STATE_BY_CONTRACT, STATE_BY_SESSION, StateStatements
from kopek.store.driver_batch import DialectText, positional

pytestmark = pytest.mark.postgres

CONTRACTS = 600
CHARGES = 1200
STATE_TABLES = ("contracts", "contract_items", "contract_roles", "counters", "activation_counters", "accounts", "reservations")
READ_TABLES = (*STATE_TABLES, "accesses", "subscriber_accounts", "charging_sessions", "session_counter_holds")
"""Every table the state statements read: kept from autovacuum, and analyzed by the test itself."""


def _generic_plan(connection: psycopg.Connection[Any], name: str, statement: DialectText, values: Mapping[str, Any]) -> str:
    """The generic plan of ``statement`` (``%(name)s`` parameters bound from ``values``) as text."""
    numbered, names, _ = positional(statement.postgresql)
    connection.execute(f"PREPARE {name} AS {numbered.decode()}")
    arguments = ", ".join("%s" for _ in names)
    with connection.transaction():
        rows = connection.execute(f"EXPLAIN EXECUTE {name}({arguments})", [values[key] for key in names]).fetchall()
    return "\n".join(row[0] for row in rows)


def _rows(connection: psycopg.Connection[Any], table: str) -> int:
    found = connection.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert found is not None
    return int(found[0])


@pytest.mark.parametrize("analyzed", [False, True], ids=["before statistics", "analyzed"])
@pytest.mark.parametrize(
    ("keyed", "statements"),
    [("access", STATE_BY_ACCESS), ("contract", STATE_BY_CONTRACT), ("session", STATE_BY_SESSION)],
)
def test_state_statements_look_rows_up_by_key(fresh_postgres_url: str, keyed: str, statements: StateStatements, analyzed: bool) -> None:
    url = fresh_postgres_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with Engine(fresh_postgres_url) as engine:
        with psycopg.connect(url, autocommit=True) as connection:
            for table in READ_TABLES:
                connection.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
        engine.load_catalog(catalog_document())
        engine.load_master_data(master_data(CONTRACTS))
        for number, item in enumerate(itertools.islice(usage(list(range(CONTRACTS)), seed=1), CHARGES)):
            engine.charge(item, idempotency_key=f"plan-{number}")
    with psycopg.connect(url, autocommit=True, cursor_factory=psycopg.ClientCursor) as connection:
        if analyzed:
            connection.execute(f"ANALYZE {', '.join(READ_TABLES)}")
        else:
            # As a database right after its load: never vacuumed nor analyzed. Autovacuum may have vacuumed a table while it
            # was still empty, before it was turned off above; the planner then trusts that count of no rows (seen once: a
            # sequential scan of contracts estimated at 48 rows), which is another case than the one this test asks about.
            tables = [list(READ_TABLES)]
            connection.execute("UPDATE pg_class SET relpages = 0, reltuples = -1 WHERE oid = ANY(%s::regclass[])", tables)
            connection.execute("DELETE FROM pg_statistic WHERE starelid = ANY(%s::regclass[])", tables)
        connection.execute("SET plan_cache_mode = force_generic_plan")
        large = [table for table in STATE_TABLES if _rows(connection, table) >= CONTRACTS]
        assert {"contracts", "contract_items", "contract_roles", "counters", "accounts"} <= set(large)
        contract_id = connection.execute("SELECT contract_id FROM accesses ORDER BY contract_id LIMIT 1").fetchone()
        assert contract_id is not None
        values = {
            "service_id": SERVICE,
            "user_id": user(0),
            "at": datetime(2026, 6, 1, tzinfo=UTC),
            "contract_id": contract_id[0],
            "session_id": "no-such-session",
            "excluding": "",
        }
        for field in ("contracts", "parts", "contract_parts", "accounts", "reservations"):
            plan = _generic_plan(connection, f"{keyed}_{field}", getattr(statements, field), values)
            scanned = [table for table in large if re.search(rf"Seq Scan on {table}\b", plan)]
            assert not scanned, f"{keyed} {field} reads {scanned} whole:\n{plan}"
