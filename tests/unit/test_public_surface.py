"""The public surface is what ``kopek.__all__`` lists, and every error code is documented."""

from __future__ import annotations

from pathlib import Path

import kopek
from kopek.errors import Code

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_exported_name_exists_and_nothing_public_is_missing() -> None:
    exported = set(kopek.__all__)
    for name in exported:
        assert hasattr(kopek, name), name
    public = {name for name in vars(kopek) if not name.startswith("_") and name[0].isupper()}
    assert public <= exported


def test_every_error_code_is_explained_in_docs() -> None:
    text = (DOCS / "errors.md").read_text(encoding="utf-8")
    missing = [code.value for code in Code if f"`{code.value}`" not in text]
    assert missing == []
