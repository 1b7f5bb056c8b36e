"""The contract state store: on PostgreSQL ids travel as the text of one array parameter, and
restore and export keep ids whatever characters they hold (on both databases)."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kopek import Code, Engine
from kopek.migration.restore import RestoreMode
from kopek.store.contract_state_store import _array_literal
from kopek.store.database import create_database_engine
from tests.contract_state_world import family_catalog, state_document
from tests.integration.support import add_subscriber

identifiers = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=128)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.none() | identifiers, max_size=20))
def test_an_array_literal_reads_back_as_the_same_values_on_postgresql(postgres_url: str, values: list[str | None]) -> None:
    database = create_database_engine(postgres_url)
    try:
        with database.connect() as connection:
            driver = connection.connection.driver_connection
            assert driver is not None
            with driver.cursor() as cursor:
                cursor.execute("SELECT %s::varchar[]", (_array_literal(values),))
                assert cursor.fetchone() == (values,)
    finally:
        database.dispose()


def test_a_file_naming_a_contract_id_with_quotes_backslashes_commas_and_braces_gets_not_found(engine: Engine) -> None:
    # Master data ids are plain names, but a file may hold anything: such an id is just unknown.
    odd = "no \"body, {at} \\ all' NULL"
    engine.load_catalog(family_catalog())
    add_subscriber(engine, "carol", contracts=1, plan="family", initial_balance="100.00")
    engine.begin_migration(None)
    lines = [json.dumps(state_document(odd)), json.dumps(state_document("carol-contract-0"))]
    report = engine.restore_contract_states(lines, RestoreMode.BEST_EFFORT)
    assert report.states_restored == 1
    assert [(failure.contract_id, failure.code) for failure in report.failures] == [(odd, Code.NOT_FOUND)]
