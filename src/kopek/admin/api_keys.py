"""API keys and their roles: who may call the HTTP API, and for what.

Roles nest: ``read`` reads; ``charging`` also charges (offline charges, sessions,
refills, CDR imports); ``admin`` may do everything, catalog and master data changes,
rating jobs, restores and migration locks included. A key's secret is shown once,
when it is created; kopek keeps only its SHA-256 digest. Creating and revoking keys
are audited administrative operations.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from kopek import limits
from kopek.errors import AlreadyExistsError, Code, DoesNotExistError, IllegalStateError, InvalidError
from kopek.store.uow import UnitOfWork

SECRET_PREFIX = "kpk_"  # noqa: S105 - the visible prefix of every key, not a secret


class ApiKeyRole(StrEnum):
    READ = "read"
    CHARGING = "charging"
    ADMIN = "admin"

    def allows(self, needed: ApiKeyRole) -> bool:
        """Whether a key of this role may make a request that needs ``needed``."""
        order = (ApiKeyRole.READ, ApiKeyRole.CHARGING, ApiKeyRole.ADMIN)
        return order.index(self) >= order.index(needed)


class ApiKeyView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    role: ApiKeyRole
    created_at: datetime
    revoked_at: datetime | None = None


class CreatedApiKey(ApiKeyView):
    secret: str = Field(description="The key to send as `Authorization: Bearer <secret>`; shown this once, never stored.")


@dataclass(frozen=True, slots=True)
class ApiKeyAccess:
    """The key a request presented (none: no key, or an unknown or revoked one) and whether keys are in use at all."""

    key: ApiKeyView | None
    keys_in_use: bool


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(uow: UnitOfWork, name: str, role: ApiKeyRole, *, actor: str, at: datetime) -> CreatedApiKey:
    if not 1 <= len(name) <= limits.IDENTIFIER_CHARS_MAX:
        raise InvalidError(code=Code.REQUEST_INVALID, message=f"an API key name is 1 to {limits.IDENTIFIER_CHARS_MAX} characters")
    if uow.api_keys.by_name(name) is not None:
        raise AlreadyExistsError(code=Code.ALREADY_EXISTS, message=f"an API key named {name!r} already exists")
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    key_id = secrets.token_hex(8)
    uow.api_keys.insert({"id": key_id, "name": name, "role": role.value, "secret_sha256": secret_digest(secret), "created_at": at})
    uow.catalogs.audit(at=at, actor=actor, action="api_key.create", target=name, details={"id": key_id, "role": role.value})
    return CreatedApiKey(id=key_id, name=name, role=role, created_at=at, secret=secret)


def revoke_api_key(uow: UnitOfWork, name: str, *, actor: str, at: datetime, force: bool = False) -> None:
    """Revoke the active key ``name``. The last active key only with ``force``: without any key a server that
    serves open (on a loopback address, or ``kopek serve --no-auth``) answers everyone (docs/security.md)."""
    active = uow.api_keys.active_names(lock=True)
    if name not in active:
        raise DoesNotExistError(code=Code.NOT_FOUND, message=f"no active API key named {name!r}")
    if active == [name] and not force:
        raise IllegalStateError(
            code=Code.LAST_API_KEY,
            message=f"{name!r} is the last active API key: without it a server serving open answers anyone; "
            "revoke it with --force (force=True) if that is meant",
        )
    uow.api_keys.revoke(name, at)
    uow.catalogs.audit(at=at, actor=actor, action="api_key.revoke", target=name, details={})


def api_key_views(uow: UnitOfWork) -> list[ApiKeyView]:
    return [ApiKeyView.model_validate(row) for row in uow.api_keys.listing()]


def authenticate(active: Mapping[str, Mapping[str, Any]], secret: str | None) -> ApiKeyView | None:
    """The active key whose secret this is, among ``active`` (rows by secret digest); none when no secret is given
    or it is unknown or revoked."""
    if not secret:
        return None
    row = active.get(secret_digest(secret))
    return ApiKeyView.model_validate(dict(row)) if row is not None else None
