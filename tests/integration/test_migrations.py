"""The Alembic migration builds kopek's schema on an empty database, and only once."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from kopek import Engine
from kopek.charging.session_views import StartSession
from kopek.store.database import MIGRATIONS_LOCATION, create_database_engine, migrate
from kopek.store.schema import counters, metadata, session_counter_holds, shared_counters
from tests.worlds import AT, build_world, call


@pytest.fixture
def database(fresh_any_url: str) -> Iterator[sa.Engine]:
    opened = create_database_engine(fresh_any_url)
    try:
        yield opened
    finally:
        opened.dispose()


def _head() -> str:
    config = Config()
    config.set_main_option("script_location", MIGRATIONS_LOCATION)
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def _revision(database: sa.Engine) -> str | None:
    with database.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _default_text(sql: str) -> str:
    """A server default's SQL without a trailing type cast, parentheses or quotes: ``''::character varying`` -> ``''``."""
    text = re.sub(r"::[\w\s]+$", "", sql.strip())
    return text.strip("()").strip("'\"")


def _same_default(
    _context: Any, _inspected: Any, _column: Any, inspected_default: str | None, _default: Any, rendered: str | None
) -> bool | None:
    """Declare two server defaults equal when their normalised SQL text is; otherwise let Alembic compare.

    Alembic's own SQLite comparison strips the quotes of a non-empty default only, so
    ``DEFAULT ''`` would look changed against itself.
    """
    if inspected_default is not None and rendered is not None and _default_text(inspected_default) == _default_text(rendered):
        return False
    return None


def _differences(database: sa.Engine) -> list[Any]:
    with database.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": _same_default})
        return list(compare_metadata(context, metadata))


def test_an_empty_database_has_no_tables(database: sa.Engine) -> None:
    assert sa.inspect(database).get_table_names() == []
    assert _revision(database) is None


def test_migrating_an_empty_database_creates_every_table_at_the_head_revision(database: sa.Engine) -> None:
    migrate(database)

    assert set(sa.inspect(database).get_table_names()) == {*metadata.tables, "alembic_version"}
    assert _revision(database) == _head()


def test_the_migrated_schema_matches_the_metadata(database: sa.Engine) -> None:
    migrate(database)

    assert _differences(database) == []


def _shape(database: sa.Engine) -> dict[str, str]:
    """Each table's reflected columns, indexes and constraints, as comparable text."""
    inspector = sa.inspect(database)
    return {
        name: repr(
            (
                inspector.get_columns(name),
                inspector.get_pk_constraint(name),
                sorted(inspector.get_foreign_keys(name), key=repr),
                sorted((_index_shape(index) for index in inspector.get_indexes(name)), key=repr),
                sorted(inspector.get_unique_constraints(name), key=repr),
            )
        )
        for name in inspector.get_table_names()
    }


def _index_shape(index: Any) -> dict[str, Any]:
    """An index as comparable data: a partial index's condition by its SQL text, not by object identity."""
    return {**index, "dialect_options": {key: str(value) for key, value in index.get("dialect_options", {}).items()}}


def test_migrating_twice_changes_nothing(database: sa.Engine) -> None:
    migrate(database)
    before = _shape(database)

    migrate(database)

    assert _shape(database) == before
    assert _revision(database) == _head()
    assert _differences(database) == []


def test_reopening_an_engine_keeps_the_data(any_url: str) -> None:
    with Engine(any_url) as first:
        build_world(first)
        first.charge(call(seconds="90"))
        balance = first.account("alice-prepaid").balance
    with Engine(any_url) as second:  # migrates again on open
        assert second.account("alice-prepaid").balance == balance == Decimal("9.40")
        assert len(second.account_operations("alice-prepaid")) == 2


def test_the_schema_check_would_see_a_missing_column(database: sa.Engine) -> None:
    # The comparison is not vacuous: drop a column and it reports it.
    migrate(database)
    with database.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE notifications DROP COLUMN data")

    differences = _differences(database)

    assert [(difference[0], difference[2], difference[3].name) for difference in differences] == [("add_column", "notifications", "data")]


def _upgrade(database: sa.Engine, revision: str, *, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", MIGRATIONS_LOCATION)
    with database.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


def test_revisions_0015_and_0016_keep_live_grants_their_holds_and_give_sessions_a_currency(any_url: str) -> None:
    with Engine(any_url) as engine:
        build_world(engine)
        engine.start_session(StartSession("s1", "voice_call", "mobile", "alice-msisdn", AT, 60_000, "duration", {"destination": "33"}))
    database = create_database_engine(any_url)
    try:
        _upgrade(database, "0012", down=True)
        with database.begin() as connection:
            connection.exec_driver_sql(
                "INSERT INTO session_counter_holds (session_id, scope, namespace, contract_id, name, delta, period_start) "
                "VALUES ('s1', 'shared', 'family', '', 'pool', '-60', NULL)"
            )

        _upgrade(database, "head")

        with database.connect() as connection:
            rows = connection.exec_driver_sql("SELECT scope, namespace, contract_id, item_id, name FROM session_counter_holds").all()
        assert [tuple(row) for row in rows] == [("shared", "family", "", "", "pool")]
        with database.connect() as connection:
            currencies = connection.exec_driver_sql("SELECT id, currency FROM charging_sessions").all()
        assert [tuple(row) for row in currencies] == [("s1", "EUR")]  # the subscriber account's, filled in by 0016
        assert _differences(database) == []
    finally:
        database.dispose()


SIXTY_DIGITS = {
    # 50 s used of 30 free minutes, as 60-digit decimal arithmetic left it: 29.1666… minutes.
    "free_minutes": ("29.1666666666666666666666666666666666666666666666666666666667", Fraction(175, 6)),
    # A cap's counter after 7 s at 0.10 a minute: 0.011666… euros.
    "spent": ("0.0116666666666666666666666666666666666666666666666666666666667", Fraction(7, 600)),
    # Exact values stay as they are, however many digits they have.
    "megabytes_used": ("12.345678", Fraction(12345678, 10**6)),
    "calls": ("1234567890123456789012345678901234567890.5", Fraction(2469135780246913578024691357802469135781, 2)),
}


def test_counter_values_of_the_sixty_digit_arithmetic_become_the_exact_fractions_they_stood_for(database: sa.Engine) -> None:
    _upgrade(database, "0016")
    with database.begin() as connection:
        connection.execute(
            sa.text("INSERT INTO subscriber_accounts (id, currency, status, name, created_at) VALUES ('s', 'EUR', 'active', '', :at)"),
            {"at": "2026-01-01T00:00:00.000000" if database.dialect.name == "sqlite" else datetime(2026, 1, 1, tzinfo=UTC)},
        )
        connection.execute(
            sa.text("INSERT INTO contracts (id, subscriber_account_id, valid_from, status) VALUES ('c', 's', :at, 'active')"),
            {"at": "2026-01-01T00:00:00.000000" if database.dialect.name == "sqlite" else datetime(2026, 1, 1, tzinfo=UTC)},
        )
        for name, (text, _) in SIXTY_DIGITS.items():
            value = text if database.dialect.name == "sqlite" else Decimal(text)
            connection.execute(
                sa.text("INSERT INTO counters (contract_id, item_id, name, unit, value) VALUES ('c', 'main', :name, 'events', :value)"),
                {"name": name, "value": value},
            )
            connection.execute(
                sa.text("INSERT INTO shared_counters (namespace, name, unit, value) VALUES ('family', :name, 'events', :value)"),
                {"name": name, "value": value},
            )

    _upgrade(database, "head")

    with database.connect() as connection:
        item_values = dict(connection.execute(sa.select(counters.c.name, counters.c.value)).all())
        shared_values = dict(connection.execute(sa.select(shared_counters.c.name, shared_counters.c.value)).all())
    expected = {name: exact for name, (_, exact) in SIXTY_DIGITS.items()}
    assert item_values == expected
    assert shared_values == expected


def test_the_holds_of_live_grants_become_exact_each_under_its_own_contract_item(any_url: str) -> None:
    with Engine(any_url) as engine:
        build_world(engine)
        engine.start_session(StartSession("s1", "voice_call", "mobile", "alice-msisdn", AT, 60_000, "duration", {"destination": "33"}))
    database = create_database_engine(any_url)
    free_minutes, _ = SIXTY_DIGITS["free_minutes"]
    try:
        _upgrade(database, "0016", down=True)
        with database.begin() as connection:
            connection.exec_driver_sql("DELETE FROM session_counter_holds")
            # One counter name held under two contract items: each row is settled under its whole key.
            for item_id, delta in (("main", f"-{free_minutes}"), ("extra", "-12.5")):
                connection.exec_driver_sql(
                    "INSERT INTO session_counter_holds (session_id, scope, namespace, contract_id, item_id, name, delta, period_start) "
                    f"VALUES ('s1', 'contract_item', '', 'alice-contract', '{item_id}', 'free_minutes', '{delta}', NULL)"
                )

        _upgrade(database, "head")

        with database.connect() as connection:
            holds = session_counter_holds.c
            rows = connection.execute(sa.select(holds.item_id, holds.delta).order_by(holds.item_id)).all()
        assert [tuple(row) for row in rows] == [("extra", Fraction(-25, 2)), ("main", Fraction(-175, 6))]
        assert _differences(database) == []
    finally:
        database.dispose()


def test_revision_0022_moves_the_operations_of_charged_cdrs_out_of_the_clients_key_space(database: sa.Engine) -> None:
    _upgrade(database, "0021")
    at = "2026-01-01T00:00:00.000000" if database.dialect.name == "sqlite" else datetime(2026, 1, 1, tzinfo=UTC)
    operation = (
        "INSERT INTO charging_operations (id, idempotency_key, request_hash, contract_id, subscriber_account_id, consumption_date,"
        " created_at, sender_job_id, result) VALUES (:id, :key, 'h', 'c', 's', :at, :at, :job, '{}')"
    )
    cdr = (
        "INSERT INTO cdrs (id, item_class, consumption_date, service_id, user_id, properties, status, imported_at, job_id, operation_id)"
        " VALUES (:id, 'sms', :at, 'mobile', 'u', '{}', 'charged', :at, :job, :operation)"
    )
    with database.begin() as connection:
        for operation_id, key, job in (("op-cdr", "c1", "job-1"), ("op-client", "k1", None), ("op-shared", "c2", "switch-7")):
            connection.execute(sa.text(operation), {"id": operation_id, "key": key, "at": at, "job": job})
        connection.execute(sa.text(cdr), {"id": "c1", "at": at, "job": "job-1", "operation": "op-cdr"})
        # A CDR that replayed a client's charge made under its id: the client's key stays the client's.
        connection.execute(sa.text(cdr), {"id": "c2", "at": at, "job": "job-2", "operation": "op-shared"})

    _upgrade(database, "0022")

    with database.connect() as connection:
        rows = connection.execute(sa.text("SELECT id, idempotency_key, cdr_id FROM charging_operations ORDER BY id")).all()
    assert [tuple(row) for row in rows] == [("op-cdr", None, "c1"), ("op-client", "k1", None), ("op-shared", "c2", None)]


def test_revision_0023_clears_the_keys_of_fee_operations_and_leaves_the_clients(database: sa.Engine) -> None:
    _upgrade(database, "0022")
    at = "2026-01-01T00:00:00.000000" if database.dialect.name == "sqlite" else datetime(2026, 1, 1, tzinfo=UTC)
    operation = (
        "INSERT INTO charging_operations (id, idempotency_key, request_hash, contract_id, subscriber_account_id, consumption_date,"
        " created_at, result) VALUES (:id, :key, :hash, 'c', 's', :at, :at, '{}')"
    )
    fee = (
        "INSERT INTO fee_applications (contract_id, activation_id, fee, period_start, operation_id, amount, currency, applied_at)"
        " VALUES ('c', 'main', 'subscription', :at, 'op-fee', '30.00', 'EUR', :at)"
    )
    with database.begin() as connection:
        connection.execute(sa.text(operation), {"id": "op-fee", "key": "fee-d1", "hash": "d1", "at": at})
        connection.execute(sa.text(operation), {"id": "op-client", "key": "fee-of-a-client", "hash": "h", "at": at})
        connection.execute(sa.text(fee), {"at": at})

    _upgrade(database, "head")

    with database.connect() as connection:
        rows = connection.execute(sa.text("SELECT id, idempotency_key FROM charging_operations ORDER BY id")).all()
    assert [tuple(row) for row in rows] == [("op-client", "fee-of-a-client"), ("op-fee", None)]


def test_revision_0031_moves_each_rated_cdrs_outcome_to_a_row_of_its_own_and_keeps_the_held_ones_held(database: sa.Engine) -> None:
    _upgrade(database, "0030")
    at = "2026-01-01T00:00:00.000000" if database.dialect.name == "sqlite" else datetime(2026, 1, 1, tzinfo=UTC)
    cdr = (
        "INSERT INTO cdrs (id, item_class, consumption_date, service_id, user_id, properties, status, imported_at, job_id,"
        " operation_id, error_code, chunk_id, contract_id, partition_key, seq)"
        " VALUES (:id, 'sms', :at, 'mobile', 'u', '{}', :status, :at, :job, :operation, :code, :chunk, :contract, :key, :seq)"
    )
    rows = (
        ("charged", "job-1", "op-1", None, "job-1/c1", "alice", "contract/alice"),
        ("failed", "job-1", None, "no_access", "job-1/c1", None, "access/mobile/u"),
        ("pending", "job-2", None, None, None, "alice", "contract/alice"),  # taken again by job-2 at its start
        ("pending", None, None, None, None, None, None),  # free
    )
    with database.begin() as connection:
        for seq, (status, job, operation, code, chunk, contract, key) in enumerate(rows, start=1):
            values = {"id": f"c{seq}", "at": at, "status": status, "job": job, "operation": operation, "code": code, "seq": seq}
            connection.execute(sa.text(cdr), values | {"chunk": chunk, "contract": contract, "key": key})

    _upgrade(database, "0031")

    with database.connect() as connection:
        outcomes = connection.execute(
            sa.text(
                "SELECT cdr_id, job_id, status, operation_id, error_code, chunk_id, contract_id, partition_key"
                " FROM cdr_outcomes ORDER BY cdr_id"
            )
        ).all()
        held = connection.execute(sa.text("SELECT id, job_id, partition_key FROM cdrs WHERE id IN ('c3', 'c4') ORDER BY id")).all()
    assert [tuple(row) for row in outcomes] == [
        ("c1", "job-1", "charged", "op-1", None, "job-1/c1", "alice", "contract/alice"),
        ("c2", "job-1", "failed", None, "no_access", "job-1/c1", None, "access/mobile/u"),
    ]
    assert [tuple(row) for row in held] == [("c3", "job-2", "contract/alice"), ("c4", None, None)]


CHARGED_ITEM = (
    "INSERT INTO charged_items (operation_id, contract_id, contract_item_id, item_class, charge_plan, charge, account_role,"
    " account_id, amount, currency, quantity, output, consumption_date) VALUES (:operation, 'c', 'i', 'sms', 'p', 'sms',"
    " 'payer', 'a', '0.10', 'EUR', '1', 'billable', :at)"
)
"""A charged item of contract ``c`` naming ``:operation``, consumed at ``:at``."""


def test_revision_0032_lets_a_cdrs_operation_keep_no_result_and_keeps_every_operation_and_what_names_it(database: sa.Engine) -> None:
    _upgrade(database, "0031")
    at = "2026-01-01T00:00:00.000000" if database.dialect.name == "sqlite" else datetime(2026, 1, 1, tzinfo=UTC)
    operation = (
        "INSERT INTO charging_operations (id, idempotency_key, cdr_id, request_hash, contract_id, subscriber_account_id,"
        " consumption_date, created_at, result) VALUES (:id, :key, :cdr, 'h', 'c', 's', :at, :at, :result)"
    )
    with database.begin() as connection:
        connection.execute(
            sa.text(operation), {"id": "op-client", "key": "k1", "cdr": None, "at": at, "result": '{"operation_id": "op-client"}'}
        )
        connection.execute(sa.text(operation), {"id": "op-cdr", "key": None, "cdr": "c1", "at": at, "result": '{"operation_id": "op-cdr"}'})
        for operation_id in ("op-client", "op-cdr"):
            connection.execute(sa.text(CHARGED_ITEM), {"operation": operation_id, "at": at})

    _upgrade(database, "0032")

    with database.begin() as connection:
        connection.execute(sa.text(operation), {"id": "op-cdr-2", "key": None, "cdr": "c2", "at": at, "result": None})
        rows = connection.execute(sa.text("SELECT id, idempotency_key, cdr_id, result FROM charging_operations ORDER BY id")).all()
        named = connection.execute(sa.text("SELECT operation_id FROM charged_items ORDER BY id")).scalars().all()
    # Written before the revision, a CDR's operation keeps its text (nothing reads it); one written after keeps none.
    assert [tuple(row) for row in rows] == [
        ("op-cdr", None, "c1", '{"operation_id": "op-cdr"}'),
        ("op-cdr-2", None, "c2", None),
        ("op-client", "k1", None, '{"operation_id": "op-client"}'),
    ]
    assert named == ["op-client", "op-cdr"]


def test_revision_0033_leaves_a_charged_cdr_its_outcome_alone_and_its_downgrade_writes_its_operation_again(
    database: sa.Engine,
) -> None:
    _upgrade(database, "0032")
    at = "2026-01-01T00:00:00.000000" if database.dialect.name == "sqlite" else datetime(2026, 1, 1, tzinfo=UTC)
    charged = "2026-01-02T00:00:00.000000" if database.dialect.name == "sqlite" else datetime(2026, 1, 2, tzinfo=UTC)
    operation = (
        "INSERT INTO charging_operations (id, idempotency_key, cdr_id, request_hash, contract_id, subscriber_account_id,"
        " consumption_date, created_at, sender_job_id, result) VALUES (:id, :key, :cdr, 'h', 'c', 's', :at, :charged, :job, :result)"
    )
    with database.begin() as connection:
        connection.execute(
            sa.text("INSERT INTO subscriber_accounts (id, currency, status, created_at) VALUES ('s', 'EUR', 'active', :at)"), {"at": at}
        )
        connection.execute(
            sa.text("INSERT INTO contracts (id, subscriber_account_id, valid_from, status) VALUES ('c', 's', :at, 'active')"), {"at": at}
        )
        connection.execute(
            sa.text(operation), {"id": "op-client", "key": "k1", "cdr": None, "at": at, "charged": at, "job": None, "result": "{}"}
        )
        connection.execute(
            sa.text(operation), {"id": "op-cdr", "key": None, "cdr": "c1", "at": at, "charged": charged, "job": "job-1", "result": None}
        )
        connection.execute(
            sa.text(
                "INSERT INTO cdrs (id, item_class, consumption_date, service_id, user_id, properties, imported_at, seq)"
                " VALUES ('c1', 'sms', :at, 'mobile', 'u', '{}', :at, 1)"
            ),
            {"at": at},
        )
        connection.execute(
            sa.text(
                "INSERT INTO cdr_outcomes (cdr_id, job_id, chunk_id, status, operation_id, contract_id, partition_key)"
                " VALUES ('c1', 'job-1', 'job-1/k', 'charged', 'op-cdr', 'c', 'contract/c')"
            )
        )
        for operation_id in ("op-client", "op-cdr"):
            connection.execute(sa.text(CHARGED_ITEM), {"operation": operation_id, "at": at})

    _upgrade(database, "head")

    with database.connect() as connection:
        operations = connection.execute(sa.text("SELECT id FROM charging_operations ORDER BY id")).scalars().all()
        outcome = connection.execute(sa.text("SELECT operation_id, charged_at FROM cdr_outcomes")).one()
        named = connection.execute(sa.text("SELECT operation_id FROM charged_items ORDER BY id")).scalars().all()
    # The CDR's operation row is gone; its outcome keeps its id and when it was charged, and its item still names it.
    assert operations == ["op-client"]
    assert (outcome[0], _instant(outcome[1])) == ("op-cdr", "2026-01-02T00:00:00")
    assert named == ["op-client", "op-cdr"]
    assert _differences(database) == []

    _upgrade(database, "0032", down=True)

    with database.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT id, idempotency_key, cdr_id, request_hash, contract_id, subscriber_account_id, created_at, sender_job_id"
                " FROM charging_operations ORDER BY id"
            )
        ).all()
    assert [(*row[:6], _instant(row[6]), row[7]) for row in rows] == [
        ("op-cdr", None, "c1", "", "c", "s", "2026-01-02T00:00:00", "job-1"),
        ("op-client", "k1", None, "h", "c", "s", "2026-01-01T00:00:00", None),
    ]
    # Back at 0032, a charged item names an operation again.
    with pytest.raises(sa.exc.IntegrityError), database.begin() as connection:
        connection.execute(sa.text(CHARGED_ITEM), {"operation": "op-none", "at": at})


def test_revision_0034_keys_each_outcome_by_its_cdrs_access_and_place_and_its_downgrade_by_the_cdrs_id(database: sa.Engine) -> None:
    _upgrade(database, "0033")
    at = "2026-01-01T00:00:00.000000" if database.dialect.name == "sqlite" else datetime(2026, 1, 1, tzinfo=UTC)
    cdr = (
        "INSERT INTO cdrs (id, item_class, consumption_date, service_id, user_id, properties, imported_at, seq)"
        " VALUES (:id, 'sms', :at, 'mobile', :user, '{}', :at, :seq)"
    )
    outcome = (
        "INSERT INTO cdr_outcomes (cdr_id, job_id, chunk_id, status, operation_id, charged_at, error_code, contract_id,"
        " partition_key) VALUES (:id, 'job-1', 'job-1/k', :status, :operation, :charged, :code, :contract, :key)"
    )
    with database.begin() as connection:
        for seq, (cdr_id, user) in enumerate((("c1", "u"), ("c2", "v"), ("c3", "u")), start=1):
            connection.execute(sa.text(cdr), {"id": cdr_id, "at": at, "user": user, "seq": seq})
        connection.execute(
            sa.text(outcome),
            {
                "id": "c1",
                "status": "charged",
                "operation": "op-1",
                "charged": at,
                "code": None,
                "contract": "alice",
                "key": "contract/alice",
            },
        )
        connection.execute(
            sa.text(outcome),
            {
                "id": "c2",
                "status": "failed",
                "operation": None,
                "charged": None,
                "code": "no_access",
                "contract": None,
                "key": "access/mobile/v",
            },
        )

    _upgrade(database, "head")

    with database.connect() as connection:
        keyed = connection.execute(
            sa.text("SELECT service_id, user_id, seq, status, operation_id, error_code, contract_id FROM cdr_outcomes ORDER BY seq")
        ).all()
    # Each outcome names its CDR by the CDR's service id, user id and seq; c3 has none, so it stays pending.
    assert [tuple(row) for row in keyed] == [
        ("mobile", "u", 1, "charged", "op-1", None, "alice"),
        ("mobile", "v", 2, "failed", None, "no_access", None),
    ]
    assert _differences(database) == []
    # One outcome per CDR: a second one for c1 is refused by the key.
    with pytest.raises(sa.exc.IntegrityError), database.begin() as connection:
        connection.execute(
            sa.text("INSERT INTO cdr_outcomes (service_id, user_id, seq, job_id, status) VALUES ('mobile', 'u', 1, 'job-2', 'charged')")
        )

    _upgrade(database, "0033", down=True)

    with database.connect() as connection:
        by_id = connection.execute(sa.text("SELECT cdr_id, status, operation_id, charged_at FROM cdr_outcomes ORDER BY cdr_id")).all()
    assert [(*row[:3], None if row[3] is None else _instant(row[3])) for row in by_id] == [
        ("c1", "charged", "op-1", "2026-01-01T00:00:00"),
        ("c2", "failed", None, None),
    ]


def _instant(value: object) -> str:
    """An instant read back raw (SQLite's text, PostgreSQL's datetime) as ISO text without offset, to the second."""
    text = value.astimezone(UTC).replace(tzinfo=None).isoformat() if isinstance(value, datetime) else str(value)
    return text[:19]
