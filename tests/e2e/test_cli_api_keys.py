"""``kopek api-keys``: a key is created with its secret shown once, listed without it, and revoked."""

from __future__ import annotations

from pathlib import Path

from kopek import Engine
from tests.e2e.cli_support import Kopek


def test_create_list_and_revoke_an_api_key(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kopek.db'}"
    kopek = Kopek(url)
    kopek.ok("init")

    created = kopek.json("api-keys", "create", "billing", "--role", "charging")
    listed = kopek.json("api-keys", "list")
    kopek.ok("api-keys", "revoke", "billing", "--force")  # the last active key
    again = kopek.refused("api-keys", "revoke", "billing")

    assert created["secret"].startswith("kpk_") and created["role"] == "charging"
    assert [(key["name"], key["role"], key["revoked_at"]) for key in listed["api_keys"]] == [("billing", "charging", None)]
    assert "secret" not in listed["api_keys"][0]
    assert again["code"] == "not_found"
    with Engine(url) as engine:
        assert engine.authenticate(created["secret"]).key is None
        audited = [(entry["action"], entry["outcome"]) for entry in engine.audit_log(limit=3)]
        assert audited == [("api_key.revoke", "refused"), ("api_key.revoke", "succeeded"), ("api_key.create", "succeeded")]
