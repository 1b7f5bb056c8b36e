"""Examples of the documents kopek answers, for the OpenAPI document: a document that holds others takes their
examples rather than a copy of them, so that one example per model is written and kept true."""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel


def example_of(model: type[BaseModel]) -> dict[str, Any]:
    """A copy of the first example ``model`` declares (``json_schema_extra={"examples": [...]}``)."""
    extra = model.model_config.get("json_schema_extra")
    assert isinstance(extra, dict) and extra.get("examples"), f"{model.__name__} declares an example"
    examples = extra["examples"]
    assert isinstance(examples, list) and isinstance(examples[0], dict)
    return copy.deepcopy(examples[0])
