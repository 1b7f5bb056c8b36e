"""The migration lock: contracts marked ``migrating`` refuse charging (retry later) and accept restores."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from kopek import limits
from kopek.domain.master import ContractStatus
from kopek.errors import Code, DoesNotExistError, IllegalStateError, InvalidError
from kopek.store.uow import UnitOfWork


class LockAction(StrEnum):
    BEGIN = "begin"
    END = "end"


class MigrationLockResult(BaseModel):
    """How many contracts changed status; ``contract_ids`` is None when the action covered all contracts."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"action": "begin", "contract_ids": ["bob-contract"], "contracts_changed": 1}]},
        use_attribute_docstrings=True,
        frozen=True,
    )

    action: LockAction
    """begin or end."""
    contract_ids: list[str] | None
    """The contracts asked for; null: all."""
    contracts_changed: int
    """How many contracts changed status."""


def change_lock(uow: UnitOfWork, action: LockAction, selected: Sequence[str] | None, *, actor: str, at: datetime) -> MigrationLockResult:
    """Begin (active -> migrating) or end (migrating -> active) the migration of ``selected`` contracts, or all; audited.

    Contracts already in the target status stay as they are, so both actions can be
    repeated. Beginning the migration of a contract locked by recharging is refused;
    with all contracts, locked ones are left out.
    """
    wanted = sorted(set(selected)) if selected is not None else None
    if wanted is not None:
        _check_selection(uow, wanted, action)
    if action is LockAction.BEGIN:
        changed = uow.contract_states.set_status(wanted, before=[ContractStatus.ACTIVE], after=ContractStatus.MIGRATING)
    else:
        changed = uow.contract_states.set_status(wanted, before=[ContractStatus.MIGRATING], after=ContractStatus.ACTIVE)
    uow.catalogs.audit(
        at=at,
        actor=actor,
        action=f"migration.{action.value}",
        target="contracts/all" if wanted is None else f"contracts/{len(wanted)}",
        details={"contracts_changed": changed, "contract_ids": wanted[:100] if wanted is not None else "all"},
    )
    return MigrationLockResult(action=action, contract_ids=wanted, contracts_changed=changed)


def _check_selection(uow: UnitOfWork, wanted: list[str], action: LockAction) -> None:
    if not wanted:
        raise InvalidError(code=Code.REQUEST_INVALID, message="name at least one contract, or all contracts")
    if len(wanted) > limits.CONTRACT_STATES_SELECTED_MAX:
        raise InvalidError(
            code=Code.LIMIT_EXCEEDED, message=f"name at most {limits.CONTRACT_STATES_SELECTED_MAX} contracts, or all contracts"
        )
    facts = uow.contract_states.contract_facts(wanted, lock=True)
    missing = [contract_id for contract_id in wanted if contract_id not in facts]
    if missing:
        raise DoesNotExistError(code=Code.NOT_FOUND, message=f"contract(s) {', '.join(map(repr, missing[:10]))} do not exist")
    locked = [contract_id for contract_id, (status, _) in facts.items() if status is ContractStatus.LOCKED]
    if action is LockAction.BEGIN and locked:
        raise IllegalStateError(
            code=Code.CONTRACT_LOCKED, message=f"contract(s) {', '.join(map(repr, locked[:10]))} are locked by a recharging operation"
        )
