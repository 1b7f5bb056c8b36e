"""The JSON Schema published in docs/ for editors is the one generated from the models."""

from __future__ import annotations

import json
from pathlib import Path

from kopek.domain.catalog import catalog_json_schema

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "catalog.schema.json"


def test_published_catalog_schema_matches_the_models() -> None:
    published = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert published == json.loads(json.dumps(catalog_json_schema())), (
        "regenerate docs/catalog.schema.json with: kopek catalog schema > docs/catalog.schema.json"
    )


def test_schema_describes_every_pricing_node() -> None:
    text = SCHEMA_FILE.read_text(encoding="utf-8")
    for node in ("flat", "connect_fee", "sum", "rate", "tiers", "switch", "prefix", "range", "allowance", "no_access"):
        assert f'"const": "{node}"' in text, node
