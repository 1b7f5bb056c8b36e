"""kopek: an open, embeddable convergent charging engine.

The public surface is what ``__all__`` lists; everything else may change.
"""

from kopek.admin.api_keys import ApiKeyRole, ApiKeyView, CreatedApiKey
from kopek.admin.ledger import LedgerReport
from kopek.admin.master_data import (
    AccessInput,
    AccountInput,
    AdjustmentInput,
    ContractInput,
    ContractItemInput,
    ContractUpdate,
    MasterDataDocument,
    SubscriberAccountInput,
    SubscriberAccountUpdate,
)
from kopek.charging.results import ChargeResult, ResultOptions
from kopek.charging.session_views import Resolution, SessionResult, SessionView, StartSession, StopSession, UpdateSession
from kopek.domain.item import ChargeableItem
from kopek.engine import Engine
from kopek.errors import Category, Code, KopekError, Reason
from kopek.migration.restore import RestoreMode, RestoreReport
from kopek.migration.state import ContractState

__version__ = "0.1.0"

__all__ = [
    "AccessInput",
    "AccountInput",
    "AdjustmentInput",
    "ApiKeyRole",
    "ApiKeyView",
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
