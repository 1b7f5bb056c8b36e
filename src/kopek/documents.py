"""Reading YAML and JSON documents (catalogs, master data) without losing a digit.

YAML and JSON numbers with a fraction are read as ``Decimal``, never as binary
floats, so ``0.10`` in a tariff stays exactly ten cents.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from kopek import limits
from kopek.errors import Code, ErrorDetail, InvalidError


class _ExactLoader(yaml.SafeLoader):
    """A safe YAML loader that reads floats as Decimals and leaves timestamps as text."""


def _construct_decimal(loader: yaml.SafeLoader, node: yaml.Node) -> Decimal:
    text = str(loader.construct_scalar(node)).replace("_", "")  # type: ignore[arg-type]
    return Decimal(text)


_ExactLoader.add_constructor("tag:yaml.org,2002:float", _construct_decimal)
_ExactLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_document(text: str, *, source: str, json_only: bool = False) -> Any:
    """Parse YAML (a superset of JSON) or JSON text; faults name ``source`` and the line."""
    try:
        if json_only or source.endswith(".json"):
            return json.loads(text, parse_float=Decimal)
        return yaml.load(text, Loader=_ExactLoader)  # noqa: S506 - a safe loader subclass
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise InvalidError(
            code=Code.REQUEST_MALFORMED,
            message=f"{source}: not valid {'JSON' if json_only or source.endswith('.json') else 'YAML'}: {exc}",
            details=(ErrorDetail(str(exc), (source,)),),
        ) from exc


def read_document(path: Path) -> Any:
    """Read and parse a YAML or JSON file, refusing files above the size bound."""
    size = path.stat().st_size
    if size > limits.CATALOG_BYTES_MAX:
        raise InvalidError(code=Code.LIMIT_EXCEEDED, message=f"{path.name}: larger than {limits.CATALOG_BYTES_MAX} bytes")
    return parse_document(path.read_text(encoding="utf-8"), source=str(path))
