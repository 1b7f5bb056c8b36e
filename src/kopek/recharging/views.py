"""What recharging answers: a recharge's result, a restoration point, a mass recharging job's status."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from kopek.domain.catalog import Dec

_CONFIG = ConfigDict(use_attribute_docstrings=True, frozen=True)


class Compensation(BaseModel):
    """The one account operation a recharge wrote on an account: the difference its charges made there."""

    model_config = _CONFIG | ConfigDict(
        json_schema_extra={"examples": [{"account_id": "ann-prepaid", "amount": "1.20", "balance_after": "41.20", "currency": "EUR"}]}
    )

    account_id: str
    """The account."""
    amount: Dec = Field(description="Added to the balance: positive when the new prices are lower on a prepaid account.")
    balance_after: Dec
    """The balance after it."""
    currency: str
    """ISO 4217."""


class RefusedItem(BaseModel):
    """An item the chosen catalog version refuses: its charged items are reversed and none replaces them."""

    model_config = _CONFIG | ConfigDict(
        json_schema_extra={
            "examples": [{"operation_id": "op-7", "code": "no_charge_for_item_class", "message": "no charge of contract 'c' prices 'sms'"}]
        }
    )

    operation_id: str
    """The charging operation of the item."""
    code: str
    """The stable error code (see docs/errors.md)."""
    message: str
    """For people; may change between versions."""


class PricingPath(StrEnum):
    """How a recharge priced a contract's items again: ``columnar`` (all at once, column-wise, as batch rating's
    vectorized path) or ``row`` (one at a time, as single charges); both give the same results."""

    COLUMNAR = "columnar"
    ROW = "row"


class RechargeResult(BaseModel):
    """What one recharge of one contract did (all of it committed together, or nothing)."""

    model_config = _CONFIG | ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "recharge_id": "recharge-1",
                    "contract_id": "ann-contract",
                    "from_date": "2026-06-01T00:00:00Z",
                    "catalog_version": 2,
                    "recharged_at": "2026-07-02T09:00:00Z",
                    "items_recharged": 31,
                    "items_changed": 12,
                    "items_refused": 0,
                    "refused": [],
                    "charged_items_superseded": 12,
                    "correction_rows": 24,
                    "counters_changed": 1,
                    "compensations": [{"account_id": "ann-prepaid", "amount": "1.20", "balance_after": "41.20", "currency": "EUR"}],
                    "pricing_path": "columnar",
                }
            ]
        }
    )

    recharge_id: str
    """The recharge's id; its account operations and correction rows name it."""
    contract_id: str
    """The contract recharged."""
    from_date: datetime
    """The restoration point: the usage consumed from then on (and later-charged items before it) was charged again."""
    catalog_version: int
    """The catalog version the items were charged with."""
    recharged_at: datetime
    """When the recharge committed."""
    items_recharged: int
    """Chargeable items charged again."""
    items_changed: int
    """Items whose charged items differ: their standing charged items were superseded, reversed and replaced."""
    items_refused: int
    """Items the catalog version refuses (counted, all of them)."""
    refused: list[RefusedItem] = Field(description="The refused items, the first 100.")
    charged_items_superseded: int
    """Charged items marked superseded by this recharge."""
    correction_rows: int
    """Charged items written: a reversal of each superseded one and the new ones (they go to the next item files)."""
    counters_changed: int
    """Counters whose stored value changed."""
    compensations: list[Compensation] = Field(
        description="One account operation per account whose balance changed; empty: nothing to pay back or take."
    )
    pricing_path: PricingPath = Field(
        default=PricingPath.ROW,
        description="columnar: the items were priced column-wise (the contract's plans take batch rating's vectorized path); "
        "row: one at a time. Both give the same results.",
    )


class AccountEffect(BaseModel):
    """What the standing charges of the items since a restoration point did to one account's balance."""

    model_config = _CONFIG | ConfigDict(json_schema_extra={"examples": [{"account_id": "ann-prepaid", "amount": "-12.40"}]})

    account_id: str
    """The account."""
    amount: Dec = Field(description="Added to the balance by those charges (a prepaid debit is negative).")


class RestorationPointView(BaseModel):
    """A contract's state as of a date, in the form of a migration contract state, and what the items since did to its accounts."""

    model_config = _CONFIG | ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "contract_id": "ann-contract",
                    "at": "2026-06-01T00:00:00Z",
                    "items_since": 31,
                    "state": {"format_version": 3, "contract_id": "ann-contract", "items": [], "shared_counters": [], "activations": []},
                    "account_effects": [{"account_id": "ann-prepaid", "amount": "-12.40"}],
                }
            ]
        }
    )

    contract_id: str
    """The contract."""
    at: datetime
    """The date of the restoration point."""
    items_since: int
    """The items a recharge from this point charges again."""
    state: dict[str, Any] = Field(
        description="The contract's state at the point (the counters and activations as they were): a line of a contract "
        "states file (docs/contract-state.schema.json), as ``kopek contract-states export`` writes and restore reads."
    )
    account_effects: list[AccountEffect] = Field(description="What the standing charges of those items did to each account's balance.")


class JournalPruning(BaseModel):
    """One pruning pass of the counter journal: what it deleted and the horizon it left."""

    model_config = _CONFIG | ConfigDict(
        json_schema_extra={"examples": [{"deleted": 1000, "horizon": "2026-03-01T00:00:00Z", "more": True}]}
    )

    deleted: int
    """Entries deleted (changes and marks recorded before the horizon)."""
    horizon: datetime
    """Entries recorded before this date may be gone: no restoration point reaches back past it."""
    more: bool
    """True when the pass stopped at its bound and older entries are left for the next one."""
