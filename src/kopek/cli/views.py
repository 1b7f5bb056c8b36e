"""Drawing master data views (subscriber accounts, accounts, contracts, accesses) as text."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console

from kopek.admin.views import AccessView, AccountOperationRecord, ContractSummary, ContractView, SubscriberAccountView
from kopek.charging.results import AccountView
from kopek.cli.output import cell, table
from kopek.money import to_text


def render_subscriber_account(console: Console, view: SubscriberAccountView) -> None:
    name = f" {view.name!r}" if view.name else ""
    console.print(f"Subscriber account {view.id}{name}: {view.currency}, {view.status}", style="bold", markup=False)
    render_accounts(console, view.accounts)
    console.print(f"Contracts: {', '.join(view.contract_ids) or '-'}", markup=False)


def render_subscriber_accounts(console: Console, views: Sequence[SubscriberAccountView]) -> None:
    shown = table("Subscriber accounts", "id", "name", "currency", "status", "accounts", "contracts")
    for view in views:
        accounts = ", ".join(
            f"{account.account_id} {to_text(account.balance)}" + ("" if account.status.value == "active" else f" ({account.status.value})")
            for account in view.accounts
        )
        shown.add_row(
            cell(view.id),
            cell(view.name or None),
            cell(view.currency),
            cell(view.status),
            cell(accounts or None),
            cell(", ".join(view.contract_ids) or None),
        )
    console.print(shown)


def render_contracts(console: Console, views: Sequence[ContractSummary]) -> None:
    shown = table("Contracts", "id", "subscriber account", "status", "valid from", "valid to", "parent", "items", "roles")
    for view in views:
        items = ", ".join(f"{item.id}={item.charge_plan}" for item in view.items)
        roles = ", ".join(f"{role}={account}" for role, account in sorted(view.roles.items()))
        shown.add_row(
            cell(view.id), cell(view.subscriber_account_id), cell(view.status), cell(view.valid_from), cell(view.valid_to or "open"),
            cell(view.parent_id), cell(items or None), cell(roles or None),
        )  # fmt: skip
    console.print(shown)


def render_accounts(console: Console, accounts: Sequence[AccountView], *, title: str = "Accounts") -> None:
    if not accounts:
        console.print(f"{title}: -", markup=False)
        return
    shown = table(title, "account", "kind", "status", ">balance", "currency", ">floor", ">credit limit")
    for account in accounts:
        floor = account.floor if account.kind == "prepaid" else None
        shown.add_row(
            cell(account.account_id),
            cell(account.kind),
            cell(account.status.value),
            cell(account.balance),
            cell(account.currency),
            cell(floor),
            cell(account.credit_limit),
        )
    console.print(shown)


def render_account(console: Console, account: AccountView) -> None:
    side = "balance" if account.kind == "prepaid" else "accumulated"
    status = "" if account.status.value == "active" else f", {account.status.value}"
    console.print(
        f"Account {account.account_id} ({account.kind}{status}): {side} {to_text(account.balance)} {account.currency}", markup=False
    )


def render_operations(console: Console, account_id: str, records: Sequence[AccountOperationRecord]) -> None:
    if not records:
        console.print(f"Account {account_id}: no account operations", markup=False)
        return
    shown = table(f"Account operations of {account_id}", ">id", "at", "kind", ">amount", ">balance after", "currency", "operation or chunk")
    for record in records:
        shown.add_row(
            cell(record.id),
            cell(record.created_at),
            cell(record.kind),
            cell(record.amount),
            cell(record.balance_after),
            cell(record.currency),
            cell(record.operation_id or record.chunk_id),
        )
    console.print(shown)


def render_contract(console: Console, view: ContractView) -> None:
    until = view.valid_to.isoformat() if view.valid_to else "open"
    console.print(f"Contract {view.id} of {view.subscriber_account_id}: {view.status}", style="bold", markup=False)
    console.print(
        f"Valid from {view.valid_from.isoformat()} to {until}" + (f"; parent {view.parent_id}" if view.parent_id else ""), markup=False
    )
    items = table("Contract items", "id", "charge plan")
    for item in view.items:
        items.add_row(cell(item.id), cell(item.charge_plan))
    console.print(items)
    roles = table("Account roles", "role", "account")
    for role, account_id in sorted(view.roles.items()):
        roles.add_row(cell(role), cell(account_id))
    console.print(roles)
    render_accesses(console, view.accesses)
    if view.counters:
        counters = table("Counters", "scope", "item", "counter", ">value", "unit", "period start", "expires")
        for counter in view.counters:
            counters.add_row(
                cell(counter.scope),
                cell(counter.item_id),
                cell(counter.name),
                cell(counter.value),
                cell(counter.unit),
                cell(counter.period_start),
                cell(counter.expires_at),
            )
        console.print(counters)


def render_accesses(console: Console, accesses: Sequence[AccessView]) -> None:
    if not accesses:
        console.print("Accesses: -")
        return
    shown = table("Accesses", ">id", "service id", "user id", "contract", "valid from", "valid to")
    for access in accesses:
        shown.add_row(
            cell(access.id),
            cell(access.service_id),
            cell(access.user_id),
            cell(access.contract_id),
            cell(access.valid_from),
            cell(access.valid_to or "open"),
        )
    console.print(shown)
