"""Who may call what: API keys with roles, checked before every route but ``/healthz`` and ``/metrics`` (docs/security.md).

While no active API key exists the API is open if the server was started so (on a
loopback address, or with ``kopek serve --no-auth``: a fresh install, a test, the demo),
and closed to everyone otherwise. Once a key exists every request must present an active
key as ``Authorization: Bearer <secret>``, with a role that allows it: ``read`` for
reads, ``charging`` for charging, sessions, refills and CDR imports, ``admin`` for
everything else (the audit log and the ledger verification, reads of everything, included).
The key's name is the actor of the administrative operations it makes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from kopek.admin.api_keys import ApiKeyAccess, ApiKeyRole
from kopek.api.context import api_context
from kopek.errors import Code, IllegalStateError, Reason

OPEN_ACTOR = "api"
"""The actor of administrative operations made while the API is open (no API key in use)."""

_OPEN_PATHS = frozenset({"/healthz", "/metrics"})
_CHARGING_PREFIXES = (
    "/v1/charging",
    "/v1/sessions",
    "/v1/reservations",
    "/v1/refills",
    "/v1/cdrs",
    "/v1/price-enquiries",
    "/v1/authorizations",
)
_ADMIN_ONLY = ("/v1/sessions:cleanup",)
_ADMIN_READS = ("/v1/audit", "/v1/ledger:verify")
"""Reads that only administrators may make: they read the whole audit log or the whole ledger."""

bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer <secret>` (docs/security.md).")


def required_role(method: str, path: str) -> ApiKeyRole | None:
    """The least role a request to route ``path`` with ``method`` needs; none for the open routes."""
    if path in _OPEN_PATHS:
        return None
    if path.startswith(_ADMIN_READS):
        return ApiKeyRole.ADMIN
    if method in ("GET", "HEAD"):
        return ApiKeyRole.READ
    if path.startswith(_CHARGING_PREFIXES) and not path.startswith(_ADMIN_ONLY):
        return ApiKeyRole.CHARGING
    return ApiKeyRole.ADMIN


async def authorize(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
    """Refuse the request unless API keys are not in use or it presents an active key whose role allows it.

    ``async``: answered on the event loop from the keys in memory, without a hop to the thread pool; only when they
    must be read again (at most once a second) is that read sent to a thread, so it never blocks the loop."""
    route = request.scope.get("route")
    path = route.path if isinstance(route, APIRoute) else request.url.path
    await check_access(request, credentials, required_role(request.method, path))


async def check_access(request: Request, credentials: HTTPAuthorizationCredentials | None, needed: ApiKeyRole | None) -> None:
    """Refuse the request unless API keys are not in use or it presents an active key with role ``needed``."""
    request.state.actor = OPEN_ACTOR
    if needed is None:
        return
    context = api_context(request)
    secret = credentials.credentials if credentials is not None else None
    access = context.engine.authenticate_from_memory(secret)
    if access is None:
        access = await run_in_threadpool(context.engine.authenticate, secret)
    request.state.actor = allowed_actor(access, needed, presented=credentials is not None, open_without_keys=context.open_without_keys)


def bearer_secret(authorization: str | None) -> str | None:
    """The secret of an ``Authorization: Bearer <secret>`` header, read as :data:`bearer` reads it; None for any other header."""
    scheme, _, secret = (authorization or "").partition(" ")
    secret = secret.strip()
    return secret if scheme.lower() == "bearer" and secret else None


def allowed_actor(access: ApiKeyAccess, needed: ApiKeyRole, *, presented: bool, open_without_keys: bool) -> str:
    """Who makes a request that needs role ``needed`` and presented (or not) a key that gave ``access``; raises
    ``NOT_AUTHORIZED`` when that access does not allow the request."""
    if not access.keys_in_use and open_without_keys:
        return OPEN_ACTOR
    if access.key is None:
        code = Code.API_KEY_UNKNOWN if presented else Code.API_KEY_MISSING
        message = "this request needs an active API key (Authorization: Bearer)"
        if not access.keys_in_use:
            message = "no active API key exists and this server does not serve without one; create one with 'kopek api-keys create'"
        raise IllegalStateError(code=code, reason=Reason.NOT_AUTHORIZED, message=message)
    if not access.key.role.allows(needed):
        raise IllegalStateError(
            code=Code.API_KEY_ROLE_INSUFFICIENT,
            reason=Reason.NOT_AUTHORIZED,
            message=f"API key {access.key.name!r} has role {access.key.role}; this request needs {needed}",
        )
    return f"api-key:{access.key.name}"


def request_actor(request: Request) -> str:
    """Who makes the request, for the audit log: the API key's name, or ``api`` while the API is open."""
    actor = getattr(request.state, "actor", OPEN_ACTOR)
    assert isinstance(actor, str)
    return actor


Actor = Annotated[str, Depends(request_actor)]
