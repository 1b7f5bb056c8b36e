"""kopek: an open, embeddable convergent charging engine.

The public surface is what ``__all__`` lists; everything else may change.
"""

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
from kopek.domain.item import ChargeableItem
from kopek.engine import Engine
from kopek.errors import Category, Code, KopekError, Reason

__version__ = "0.1.0"

__all__ = [
    "AccessInput",
    "AccountInput",
    "AdjustmentInput",
    "Category",
    "ChargeResult",
    "ChargeableItem",
    "Code",
    "ContractInput",
    "ContractItemInput",
    "ContractUpdate",
    "Engine",
    "KopekError",
    "MasterDataDocument",
    "Reason",
    "ResultOptions",
    "SubscriberAccountInput",
    "SubscriberAccountUpdate",
    "__version__",
]
