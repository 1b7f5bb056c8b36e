"""The bank test's own floor check, on a small SQLite world: it must tell a posting that took a balance below its
floor untold from a refill that leaves a balance below its floor while raising it."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from kopek import Engine
from kopek.charging.refills import RefillCommand
from kopek.charging.session_views import StartSession, StopSession
from kopek.store.schema import notifications
from tests.e2e.bank_support import AT, _check_floors, build_bank

LINE = "hot-0-line-0"


@pytest.fixture
def overdrawn(sqlite_url: str) -> Engine:
    """hot-0's balance taken from 8.00 to -2.20 by a session used beyond its grant, then refilled by 1.00 (to -1.20)."""
    engine = Engine(sqlite_url)
    build_bank(engine)
    start = StartSession(
        session_id="s1",
        item_class="call",
        service_id="bank",
        user_id=LINE,
        consumption_date=AT,
        ttl_ms=60_000,
        quantity_property="duration",
    )
    granted = engine.start_session(start).granted_quantity
    engine.stop_session(StopSession(session_id="s1", used_quantity=granted + 200))
    engine.refill(RefillCommand(refill_id="r1", contract_id=LINE, refill_plan="top_up", amount=Decimal("1.00")))
    return engine


def test_a_refill_that_leaves_a_balance_below_its_floor_is_no_fault(overdrawn: Engine) -> None:
    with overdrawn, overdrawn.database.engine.connect() as connection:
        assert _check_floors(connection) == 1  # the session's debit, told


def test_a_debit_below_a_floor_untold_is_found(overdrawn: Engine) -> None:
    with overdrawn, overdrawn.database.engine.begin() as connection:
        connection.execute(sa.delete(notifications).where(notifications.c.kind == "usage_above_grant"))
        with pytest.raises(AssertionError, match="hot-0-prepaid"):
            _check_floors(connection)
