"""``python -m bench --quick --json FILE`` writes one entry per measure, each with the fields the targets are read from.

The measures run on a tiny size (a few charges, one round, a second of sessions), so the test checks
the shape and names of the JSON, never a figure; the PostgreSQL ones run against the test server,
each on schemas of its own that the benchmark drops.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench.__main__ import MEASURES, MeasureSizes, arguments, take_measures

from tests.conftest import POSTGRES_URL

# A round of charges long enough for /proc, which counts CPU time in 10 ms ticks, to see the server's CPU: with 8
# charges a round (about 10 ms of it) the figure of charges per core-second was now and then 0.
TINY = MeasureSizes(charges_per_round=100, rounds=1, session_seconds=1, rating_items=60, rating_rounds=1, cdrs=60, states=40, subscribers=8)
FIELDS = ["name", "unit", "kopek", "baseline", "ratio", "target", "ok"]


@pytest.mark.postgres
def test_quick_json_holds_every_measure_once_with_its_fields(tmp_path: Path) -> None:
    written = tmp_path / "measures.json"
    options = arguments(["--quick", "--json", str(written), "--postgres-url", POSTGRES_URL, "--threads", "2"])

    take_measures(options, TINY)

    measures = json.loads(written.read_text())["measures"]
    assert [measure["name"] for measure in measures] == list(MEASURES)
    for measure in measures:
        assert list(measure) == FIELDS
        assert isinstance(measure["kopek"], int | float) and measure["kopek"] > 0
        assert isinstance(measure["ok"], bool)
    by_name = {measure["name"]: measure for measure in measures}
    assert by_name["session_p99_pg_ms"]["baseline"] is None
    assert by_name["session_p99_pg_ms"]["ratio"] is None
    assert by_name["session_p99_pg_ms"]["ok"] is (by_name["session_p99_pg_ms"]["kopek"] <= 5)
    assert all(measure["ratio"] is not None for name, measure in by_name.items() if name != "session_p99_pg_ms")
