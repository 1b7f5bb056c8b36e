"""Reading and writing master data: subscriber accounts, accounts, contracts, accesses, counters."""

from __future__ import annotations

import decimal
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from kopek.domain.accounts import AccountOperation
from kopek.domain.master import (
    Access,
    Account,
    AccountId,
    AccountKind,
    AccountStatus,
    Contract,
    ContractId,
    ContractItem,
    ContractItemId,
    ContractStatus,
    SubscriberAccount,
    SubscriberAccountId,
    SubscriberAccountStatus,
)
from kopek.money import rating_context
from kopek.store.bulk import insert_many, update_many
from kopek.store.schema import (
    accesses,
    account_operations,
    accounts,
    contract_items,
    contract_roles,
    contracts,
    counters,
    subscriber_accounts,
)

_ACCOUNT_COLUMNS = (*accounts.c, subscriber_accounts.c.status.label("holder_status"))


class MasterStore:
    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection

    # ---- subscriber accounts and accounts ---------------------------------------

    def insert_subscriber_account(self, record: SubscriberAccount, *, at: datetime) -> None:
        self._connection.execute(
            sa.insert(subscriber_accounts).values(
                id=record.id, currency=record.currency, status=record.status.value, name=record.name, created_at=at
            )
        )

    def subscriber_account(self, subscriber_account_id: str) -> SubscriberAccount | None:
        row = (
            self._connection.execute(sa.select(subscriber_accounts).where(subscriber_accounts.c.id == subscriber_account_id))
            .mappings()
            .first()
        )
        if row is None:
            return None
        return SubscriberAccount(SubscriberAccountId(row["id"]), row["currency"], SubscriberAccountStatus(row["status"]), row["name"])

    def update_subscriber_account(self, subscriber_account_id: str, values: dict[str, Any]) -> None:
        self._connection.execute(sa.update(subscriber_accounts).where(subscriber_accounts.c.id == subscriber_account_id).values(**values))

    def insert_account(self, account: Account) -> None:
        self._connection.execute(
            sa.insert(accounts).values(
                id=account.id,
                subscriber_account_id=account.subscriber_account_id,
                kind=account.kind.value,
                currency=account.currency,
                balance=account.balance,
                floor=account.floor,
                credit_limit=account.credit_limit,
                low_balance_threshold=account.low_balance_threshold,
                status=account.status.value,
            )
        )

    def account(self, account_id: str) -> Account | None:
        found = self._accounts(accounts.c.id == account_id, lock=False)
        return found[0] if found else None

    def accounts_of(self, subscriber_account_id: str) -> list[Account]:
        return self._accounts(accounts.c.subscriber_account_id == subscriber_account_id, lock=False)

    def accounts_of_holders(self, subscriber_account_ids: Iterable[str]) -> list[Account]:
        """The accounts of several subscriber accounts, in account id order: one statement for a page of them."""
        return self._accounts(accounts.c.subscriber_account_id.in_(sorted(set(subscriber_account_ids))), lock=False)

    def subscriber_accounts(self, subscriber_account_ids: Iterable[str]) -> list[SubscriberAccount]:
        """Several subscriber accounts by id, in id order."""
        query = sa.select(subscriber_accounts).where(subscriber_accounts.c.id.in_(sorted(set(subscriber_account_ids))))
        rows = self._connection.execute(query.order_by(subscriber_accounts.c.id)).mappings()
        return [
            SubscriberAccount(SubscriberAccountId(row["id"]), row["currency"], SubscriberAccountStatus(row["status"]), row["name"])
            for row in rows
        ]

    def contracts_of_holders(self, subscriber_account_ids: Iterable[str]) -> dict[str, list[str]]:
        """The contract ids of each of several subscriber accounts, in id order."""
        query = sa.select(contracts.c.subscriber_account_id, contracts.c.id).where(
            contracts.c.subscriber_account_id.in_(sorted(set(subscriber_account_ids)))
        )
        found: dict[str, list[str]] = {}
        for holder, contract_id in self._connection.execute(query.order_by(contracts.c.id)):
            found.setdefault(holder, []).append(contract_id)
        return found

    def lock_accounts(self, account_ids: Iterable[str]) -> dict[AccountId, Account]:
        """Lock the rows of ``account_ids`` in id order (a fixed order cannot deadlock)."""
        ordered = sorted(set(account_ids))
        return {account.id: account for account in self._accounts(accounts.c.id.in_(ordered), lock=True)}

    def _accounts(self, condition: sa.ColumnElement[bool], *, lock: bool) -> list[Account]:
        query = (
            sa.select(*_ACCOUNT_COLUMNS)
            .join(subscriber_accounts, subscriber_accounts.c.id == accounts.c.subscriber_account_id)
            .where(condition)
            .order_by(accounts.c.id)
        )
        if lock:
            query = query.with_for_update(of=accounts)
        return [_account(row) for row in self._connection.execute(query).mappings()]

    def set_balance(self, account_id: str, balance: Decimal) -> None:
        self._connection.execute(sa.update(accounts).where(accounts.c.id == account_id).values(balance=balance))

    def set_balances(self, balances: Mapping[AccountId, Decimal]) -> None:
        """Store several balances, one statement."""
        update_many(self._connection, accounts, "id", [{"id": key, "balance": value} for key, value in balances.items()], ("balance",))

    def update_account(self, account_id: str, values: dict[str, Any]) -> None:
        self._connection.execute(sa.update(accounts).where(accounts.c.id == account_id).values(**values))

    def insert_account_operations(self, operations: Iterable[AccountOperation], *, operation_id: str | None, at: datetime) -> None:
        rows = [
            {
                "account_id": operation.account_id,
                "operation_id": operation_id,
                "kind": operation.kind.value,
                "amount": operation.amount,
                "balance_after": operation.balance_after,
                "currency": operation.currency,
                "created_at": at,
            }
            for operation in operations
        ]
        insert_many(self._connection, account_operations, rows)

    def insert_account_operation_rows(self, rows: list[dict[str, Any]]) -> None:
        """Insert account operations given as rows (each with its own ``operation_id``), in one statement."""
        insert_many(self._connection, account_operations, rows)

    def account_operations(self, account_id: str, *, limit: int, after_id: int = 0) -> list[dict[str, Any]]:
        query = (
            sa.select(account_operations)
            .where(account_operations.c.account_id == account_id, account_operations.c.id > after_id)
            .order_by(account_operations.c.id)
            .limit(limit)
        )
        return [dict(row) for row in self._connection.execute(query).mappings()]

    def operations_total(self, account_id: str) -> Decimal:
        """The sum of every operation of an account, added in Python to stay exact on SQLite."""
        amounts = self._connection.execute(
            sa.select(account_operations.c.amount).where(account_operations.c.account_id == account_id)
        ).scalars()
        with decimal.localcontext(rating_context()):
            return sum(amounts, Decimal(0))

    # ---- contracts and accesses -----------------------------------------------------

    def insert_contract(self, contract: Contract) -> None:
        self._connection.execute(
            sa.insert(contracts).values(
                id=contract.id,
                subscriber_account_id=contract.subscriber_account_id,
                valid_from=contract.valid_from,
                valid_to=contract.valid_to,
                status=contract.status.value,
                parent_id=contract.parent_id,
            )
        )
        self._write_contract_parts(contract)

    def replace_contract(self, contract: Contract) -> None:
        self._connection.execute(
            sa.update(contracts)
            .where(contracts.c.id == contract.id)
            .values(valid_from=contract.valid_from, valid_to=contract.valid_to, status=contract.status.value, parent_id=contract.parent_id)
        )
        self._connection.execute(sa.delete(contract_items).where(contract_items.c.contract_id == contract.id))
        self._connection.execute(sa.delete(contract_roles).where(contract_roles.c.contract_id == contract.id))
        self._write_contract_parts(contract)

    def _write_contract_parts(self, contract: Contract) -> None:
        items = [
            {"contract_id": contract.id, "item_id": item.id, "position": index, "charge_plan": item.charge_plan}
            for index, item in enumerate(contract.items)
        ]
        roles = [{"contract_id": contract.id, "role": role, "account_id": account_id} for role, account_id in contract.roles.items()]
        if items:
            self._connection.execute(sa.insert(contract_items), items)
        if roles:
            self._connection.execute(sa.insert(contract_roles), roles)

    def contract(self, contract_id: str, *, lock: bool = False) -> Contract | None:
        return self.contracts([contract_id], lock=lock).get(contract_id)

    def contracts(self, contract_ids: Iterable[str], *, lock: bool = False) -> dict[str, Contract]:
        """Several contracts by id, three statements; locked linked contracts first, then by id (the order single charges lock in)."""
        ids = sorted(set(contract_ids))
        if not ids:
            return {}
        query = sa.select(contracts).where(contracts.c.id.in_(ids)).order_by(contracts.c.parent_id.is_(None), contracts.c.id)
        if lock:
            query = query.with_for_update()
        rows = list(self._connection.execute(query).mappings())
        items: dict[str, list[ContractItem]] = {}
        query_items = sa.select(contract_items).where(contract_items.c.contract_id.in_(ids)).order_by(contract_items.c.position)
        for item in self._connection.execute(query_items).mappings():
            items.setdefault(item["contract_id"], []).append(ContractItem(ContractItemId(item["item_id"]), item["charge_plan"]))
        roles: dict[str, dict[str, AccountId]] = {}
        for role in self._connection.execute(sa.select(contract_roles).where(contract_roles.c.contract_id.in_(ids))).mappings():
            roles.setdefault(role["contract_id"], {})[role["role"]] = AccountId(role["account_id"])
        return {
            row["id"]: Contract(
                id=ContractId(row["id"]),
                subscriber_account_id=SubscriberAccountId(row["subscriber_account_id"]),
                valid_from=row["valid_from"],
                valid_to=row["valid_to"],
                status=ContractStatus(row["status"]),
                parent_id=row["parent_id"],
                items=tuple(items.get(row["id"], ())),
                roles=roles.get(row["id"], {}),
            )
            for row in rows
        }

    def contracts_of(self, subscriber_account_id: str) -> list[str]:
        query = sa.select(contracts.c.id).where(contracts.c.subscriber_account_id == subscriber_account_id).order_by(contracts.c.id)
        return list(self._connection.execute(query).scalars())

    def insert_access(self, access: Access) -> int:
        """Store ``access``; its new id."""
        inserted = self._connection.execute(
            sa.insert(accesses).values(
                service_id=access.service_id,
                user_id=access.user_id,
                contract_id=access.contract_id,
                valid_from=access.valid_from,
                valid_to=access.valid_to,
            )
        )
        key = inserted.inserted_primary_key
        assert key is not None and isinstance(key[0], int)
        return key[0]

    def accesses_of(self, service_id: str, user_id: str) -> list[Access]:
        query = (
            sa.select(accesses).where(accesses.c.service_id == service_id, accesses.c.user_id == user_id).order_by(accesses.c.valid_from)
        )
        return [_access(row) for row in self._connection.execute(query).mappings()]

    def accesses_of_contract(self, contract_id: str) -> list[Access]:
        query = sa.select(accesses).where(accesses.c.contract_id == contract_id).order_by(accesses.c.valid_from)
        return [_access(row) for row in self._connection.execute(query).mappings()]

    def find_access(self, service_id: str, user_id: str, at: datetime) -> Access | None:
        query = (
            sa.select(accesses)
            .where(
                accesses.c.service_id == service_id,
                accesses.c.user_id == user_id,
                accesses.c.valid_from <= at,
                sa.or_(accesses.c.valid_to.is_(None), accesses.c.valid_to > at),
            )
            .limit(1)
        )
        row = self._connection.execute(query).mappings().first()
        return _access(row) if row is not None else None

    # ---- counters ---------------------------------------------------------------------

    def counter_rows(self, contract_id: str) -> list[dict[str, Any]]:
        query = sa.select(counters).where(counters.c.contract_id == contract_id).order_by(counters.c.item_id, counters.c.name)
        return [dict(row) for row in self._connection.execute(query).mappings()]


def _account(row: sa.RowMapping) -> Account:
    return Account(
        id=AccountId(row["id"]),
        subscriber_account_id=SubscriberAccountId(row["subscriber_account_id"]),
        kind=AccountKind(row["kind"]),
        currency=row["currency"],
        balance=row["balance"],
        floor=row["floor"],
        credit_limit=row["credit_limit"],
        holder_status=SubscriberAccountStatus(row["holder_status"]),
        low_balance_threshold=row["low_balance_threshold"],
        status=AccountStatus(row["status"]),
    )


def _access(row: sa.RowMapping) -> Access:
    return Access(row["service_id"], row["user_id"], ContractId(row["contract_id"]), row["valid_from"], row["valid_to"], row["id"])
