"""Starting a rating job checks its request: a faulty one is refused with the field named and starts no job."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kopek import Category, Code, Engine, KopekError
from kopek.batch.rating_jobs import JobFilters, RatingMode
from tests.integration.test_batch_rating_jobs import records
from tests.worlds import build_world

JUNE_1 = datetime(2026, 6, 1, tzinfo=UTC)
JUNE_2 = datetime(2026, 6, 2, tzinfo=UTC)
BOTH = ["alice-contract", "nobody-contract"]


@pytest.mark.parametrize(
    ("filters", "location", "detail_code"),
    [
        pytest.param(JobFilters(date_from=JUNE_2, date_to=JUNE_1), ("filters", "date_to"), "request_invalid", id="inverted-dates"),
        pytest.param(JobFilters(date_from=JUNE_2, date_to=JUNE_2), ("filters", "date_to"), "request_invalid", id="empty-date-range"),
        pytest.param(JobFilters(contract_id=BOTH), ("filters", "contract_id", 1), "not_found", id="unknown-contract"),
        pytest.param(JobFilters(item_class="fax"), ("filters", "item_class"), "item_class_unknown", id="unknown-item-class"),
    ],
)  # fmt: skip
def test_a_job_request_that_can_only_be_a_mistake_is_invalid_names_its_field_and_starts_no_job(
    engine: Engine, filters: JobFilters, location: tuple[str | int, ...], detail_code: str
) -> None:
    build_world(engine)
    engine.import_cdrs(enumerate(records(), start=1), strict=True)
    with pytest.raises(KopekError) as refused:
        engine.start_rating_job(RatingMode.DAY_MOST, filters)
    assert (refused.value.category, refused.value.code) == (Category.INVALID, Code.REQUEST_INVALID)
    assert [(detail.location, detail.code) for detail in refused.value.details] == [(location, detail_code)]
    assert engine.rating_jobs() == []
    assert {(view.status, view.job_id) for view in engine.cdrs()} == {("pending", None)}


def test_a_job_cannot_start_before_a_catalog_is_loaded(engine: Engine) -> None:
    engine.import_cdrs(enumerate(records(), start=1), strict=True)
    with pytest.raises(KopekError) as refused:
        engine.start_rating_job(RatingMode.DAY_MOST)
    assert (refused.value.category, refused.value.code) == (Category.PREREQUISITE_MISSING, Code.CATALOG_NOT_LOADED)
    assert engine.rating_jobs() == []
