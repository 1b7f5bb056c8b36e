"""Many rows inserted at once are stored as they were given, in their order, however many there are: on PostgreSQL a
pipelined ``executemany`` below ``COPY_FROM_ROWS`` rows and ``COPY`` from there on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest
import sqlalchemy as sa

from kopek import Engine
from kopek.store.bulk import COPY_FROM_ROWS, insert_many
from kopek.store.schema import counter_journal

AT = datetime(2026, 6, 1, 12, 30, 15, 123456, tzinfo=UTC)
AWKWARD = ("plain", "tab\there", "line\nbreak", "back\\slash", "quote'\"", "comma,semicolon;", "\\N", "ünïcødé ✓", "")
"""Text that a copy must escape or must not read as null."""


def _rows(count: int, contract: str) -> list[dict[str, Any]]:
    return [
        {
            "contract_id": contract,
            "operation_id": None if index % 3 == 0 else f"op-{index}",
            "kind": "change",
            "scope": "contract",
            "item_id": AWKWARD[index % len(AWKWARD)],
            "name": f"counter-{index}",
            "unit": "amount",
            "present": index % 2 == 0,
            "value": None if index % 5 == 0 else Fraction(index * 7 - 100, 7000 if index % 2 else 1),
            "period_start": AT - timedelta(days=index) if index % 4 else None,
            "expires_at": None,
            "recorded_at": AT + timedelta(microseconds=index),
        }
        for index in range(count)
    ]


@pytest.mark.parametrize("count", [1, COPY_FROM_ROWS - 1, COPY_FROM_ROWS, 3 * COPY_FROM_ROWS + 5])
def test_rows_inserted_together_read_back_as_given_and_in_order(engine: Engine, count: int) -> None:
    rows = _rows(count, f"contract-{count}")
    with engine.database.begin() as connection:
        insert_many(connection, counter_journal, rows)
    with engine.database.connect() as connection:
        query = sa.select(*(counter_journal.c[name] for name in rows[0])).where(counter_journal.c.contract_id == f"contract-{count}")
        stored = [dict(row) for row in connection.execute(query.order_by(counter_journal.c.id)).mappings()]
    assert stored == rows


def test_a_copy_that_fails_leaves_nothing(engine: Engine) -> None:
    rows = _rows(COPY_FROM_ROWS + 1, "contract-failing")
    rows[-1]["kind"] = None  # Not null: the whole insert is refused.
    with pytest.raises(sa.exc.IntegrityError), engine.database.begin() as connection:
        insert_many(connection, counter_journal, rows)
    with engine.database.connect() as connection:
        query = sa.select(sa.func.count()).select_from(counter_journal).where(counter_journal.c.contract_id == "contract-failing")
        assert connection.execute(query).scalar_one() == 0
