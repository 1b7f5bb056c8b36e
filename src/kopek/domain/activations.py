"""Activations: what a contract item's plan does in the background, with its status.

A charge activation applies the fees of a contract item's charge plan; a refill
activation records refills (kept by contract states, not created by kopek yet).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class ActivationKind(StrEnum):
    CHARGE = "charge"
    REFILL = "refill"


class ActivationStatus(StrEnum):
    """``active``: its fees are charged when due; ``suspended``: its payer could not cover a fee
    and the fee's rule said suspend (the next fee run tries again); ``expired``: nothing will
    be due any more (the contract ended, or its only fees were one-off and are applied)."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Activation:
    """One activation of a contract item; ``last_activation_date`` is the start of the latest
    period it charged (``None``: it never charged)."""

    contract_id: str
    id: str
    item_id: str
    kind: ActivationKind
    status: ActivationStatus
    last_activation_date: datetime | None = None
