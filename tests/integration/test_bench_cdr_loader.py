"""The benchmark's CDR loader stores what ``Engine.import_cdrs`` stores, so a job over its rows charges the same."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from bench.cdr_loader import import_record, load_pending_cdrs, numbered_usage
from bench.world import catalog_document, master_data

from kopek import Engine
from kopek.batch.rating_jobs import RatingMode
from kopek.store.cdr_store import cdr_states
from kopek.store.job_scope import outcome_of
from kopek.store.schema import cdr_outcomes, cdrs, charged_items
from tests.fakes import FixedClock, SequentialIds

CDRS = 400
SUBSCRIBERS = 8
CLOCK = FixedClock()


def _engine(url: str) -> Engine:
    engine = Engine(url, clock=CLOCK, new_id=SequentialIds())
    engine.load_catalog(catalog_document())
    engine.load_master_data(master_data(SUBSCRIBERS))
    return engine


def _stored(engine: Engine) -> list[dict[str, Any]]:
    with engine.database.connect() as connection:
        return [dict(row) for row in connection.execute(sa.select(cdrs).order_by(cdrs.c.id)).mappings()]


def _statuses(engine: Engine) -> list[tuple[str, str]]:
    with engine.database.connect() as connection:
        return [(row.id, row.status) for row in connection.execute(cdr_states().select().order_by(cdrs.c.id))]


def _charged(engine: Engine) -> list[tuple[Any, ...]]:
    outcome = cdr_outcomes.c
    of_cdrs = cdr_outcomes.join(cdrs, outcome_of(cdr_outcomes))
    query = (
        sa.select(cdrs.c.id, outcome.status, outcome.error_code, charged_items.c.charge, charged_items.c.amount)
        .select_from(of_cdrs)
        .outerjoin(charged_items, charged_items.c.operation_id == outcome.operation_id)
    )
    with engine.database.connect() as connection:
        return sorted(tuple(row) for row in connection.execute(query))


def test_loaded_cdrs_are_the_imported_rows_and_a_job_charges_them_the_same(tmp_path: Path) -> None:
    imported_url, loaded_url = f"sqlite:///{tmp_path / 'imported.db'}", f"sqlite:///{tmp_path / 'loaded.db'}"
    with _engine(imported_url) as imported, _engine(loaded_url) as loaded:
        imported.import_cdrs(
            ((line, import_record(cdr_id, item)) for line, (cdr_id, item) in enumerate(numbered_usage(CDRS, SUBSCRIBERS), start=1)),
            strict=True,
        )
        assert load_pending_cdrs(loaded_url, CDRS, SUBSCRIBERS, imported_at=CLOCK()) == CDRS
        assert _stored(loaded) == _stored(imported)

        statuses = [engine.run_rating_job(engine.start_rating_job(RatingMode.DAY_SUBSCRIPTION_FIRST_FAIL)) for engine in (imported, loaded)]

        assert statuses[0].model_dump(exclude={"id", "created_at", "started_at", "finished_at"}) == statuses[1].model_dump(
            exclude={"id", "created_at", "started_at", "finished_at"}
        )
        assert statuses[1].charged > 0
        assert _charged(loaded) == _charged(imported)
        assert _statuses(loaded) == _statuses(imported)
