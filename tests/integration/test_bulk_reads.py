"""A look-up a batch job repeats while it fills the table it looks in is planned each time, never prepared."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from kopek import Engine
from kopek.store.charging_store import ChargingStore
from kopek.store.schema import charging_operations

AT = datetime(2026, 6, 1, tzinfo=UTC)


def test_the_operations_of_cdrs_are_found_by_a_statement_never_prepared(engine: Engine) -> None:
    with engine.database.begin() as connection:
        connection.execute(
            sa.insert(charging_operations),
            [
                {"id": f"op-{index}", "cdr_id": f"cdr-{index}", "request_hash": f"hash-{index}", "contract_id": "c",
                 "subscriber_account_id": "s", "consumption_date": AT, "created_at": AT}
                for index in range(3)
            ],
        )  # fmt: skip
    with engine.database.connect() as connection:
        store = ChargingStore(connection)
        # More runs than psycopg's threshold for preparing a statement (5).
        for _ in range(8):
            found = store.operations_of_cdrs(["cdr-0", "cdr-2", "cdr-9"])
        assert found == {"cdr-0": ("hash-0", "op-0"), "cdr-2": ("hash-2", "op-2")}
        if connection.dialect.name == "postgresql":
            prepared = connection.exec_driver_sql("SELECT statement FROM pg_prepared_statements").scalars().all()
            assert not [statement for statement in prepared if statement.startswith("SELECT") and "charging_operations" in statement], (
                prepared
            )
