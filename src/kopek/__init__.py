"""kopek: an open, embeddable convergent charging engine.

The public surface is what ``__all__`` lists; everything else may change. Names are
imported when first used (:pep:`562`), so ``import kopek`` (and ``kopek --help``) does
not load the database and web stacks.
"""

from __future__ import annotations

import importlib
import typing

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "AccessInput": "kopek.admin.master_data",
    "AccountInput": "kopek.admin.master_data",
    "AccountUpdate": "kopek.admin.master_data",
    "AdjustmentInput": "kopek.admin.master_data",
    "ApiKeyRole": "kopek.admin.api_keys",
    "ApiKeyView": "kopek.admin.api_keys",
    "AuthorizationResult": "kopek.charging.authorization_views",
    "AuthorizationStatus": "kopek.charging.authorization_views",
    "AuthorizationView": "kopek.charging.authorization_views",
    "Authorize": "kopek.charging.authorization_views",
    "Capture": "kopek.charging.authorization_views",
    "Category": "kopek.errors",
    "ChargeResult": "kopek.charging.results",
    "ChargeableItem": "kopek.domain.item",
    "Code": "kopek.errors",
    "ContractInput": "kopek.admin.master_data",
    "ContractItemInput": "kopek.admin.master_data",
    "ContractState": "kopek.migration.state",
    "ContractUpdate": "kopek.admin.master_data",
    "CreatedApiKey": "kopek.admin.api_keys",
    "Engine": "kopek.engine",
    "KopekError": "kopek.errors",
    "LedgerReport": "kopek.admin.ledger",
    "MasterDataDocument": "kopek.admin.master_data",
    "Quote": "kopek.charging.price_enquiry",
    "Reason": "kopek.errors",
    "Resolution": "kopek.charging.session_views",
    "RestoreMode": "kopek.migration.restore",
    "RestoreReport": "kopek.migration.restore",
    "ResultOptions": "kopek.charging.results",
    "SessionResult": "kopek.charging.session_views",
    "SessionView": "kopek.charging.session_views",
    "StartSession": "kopek.charging.session_views",
    "StopSession": "kopek.charging.session_views",
    "SubscriberAccountInput": "kopek.admin.master_data",
    "SubscriberAccountUpdate": "kopek.admin.master_data",
    "UpdateSession": "kopek.charging.session_views",
}
"""Each public name and the module that defines it."""

__all__ = [
    "AccessInput",
    "AccountInput",
    "AccountUpdate",
    "AdjustmentInput",
    "ApiKeyRole",
    "ApiKeyView",
    "AuthorizationResult",
    "AuthorizationStatus",
    "AuthorizationView",
    "Authorize",
    "Capture",
    "Category",
    "ChargeResult",
    "ChargeableItem",
    "Code",
    "ContractInput",
    "ContractItemInput",
    "ContractState",
    "ContractUpdate",
    "CreatedApiKey",
    "Engine",
    "KopekError",
    "LedgerReport",
    "MasterDataDocument",
    "Quote",
    "Reason",
    "Resolution",
    "RestoreMode",
    "RestoreReport",
    "ResultOptions",
    "SessionResult",
    "SessionView",
    "StartSession",
    "StopSession",
    "SubscriberAccountInput",
    "SubscriberAccountUpdate",
    "UpdateSession",
    "__version__",
]

if typing.TYPE_CHECKING:
    from kopek.admin.api_keys import ApiKeyRole, ApiKeyView, CreatedApiKey
    from kopek.admin.ledger import LedgerReport
    from kopek.admin.master_data import (
        AccessInput,
        AccountInput,
        AccountUpdate,
        AdjustmentInput,
        ContractInput,
        ContractItemInput,
        ContractUpdate,
        MasterDataDocument,
        SubscriberAccountInput,
        SubscriberAccountUpdate,
    )
    from kopek.charging.authorization_views import AuthorizationResult, AuthorizationStatus, AuthorizationView, Authorize, Capture
    from kopek.charging.price_enquiry import Quote
    from kopek.charging.results import ChargeResult, ResultOptions
    from kopek.charging.session_views import Resolution, SessionResult, SessionView, StartSession, StopSession, UpdateSession
    from kopek.domain.item import ChargeableItem
    from kopek.engine import Engine
    from kopek.errors import Category, Code, KopekError, Reason
    from kopek.migration.restore import RestoreMode, RestoreReport
    from kopek.migration.state import ContractState


def __getattr__(name: str) -> typing.Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kopek' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
