"""Posting many charged items at once, column-wise: the rules of :mod:`kopek.domain.accounts` over a Polars frame.

A prepaid balance goes down by each amount and may not go below its floor; a postpaid
one goes up and may not pass its credit limit. Balances run per account in charging
order as whole numbers of ``10^-scale`` (Int128); the balance after each posting is
written with the decimal places ``Decimal`` arithmetic would give it (those of the
opening balance and of every amount posted so far). A prepaid balance that a CDR's postings take
from at or above its low-balance threshold to below it notifies ``low_balance`` for that CDR, as
:func:`kopek.domain.accounts.low_balance_notifications` decides for one charge. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

import polars as pl

from kopek.domain.accounts import OperationKind, low_balance_notification
from kopek.domain.master import Account, AccountId, AccountKind, Contract
from kopek.domain.outcome import Notification
from kopek.money import to_text
from kopek.rating.columnar import INT, INT128_MAX, ColumnarPlan, Unsupported


class BoundCrossed(Exception):
    """A balance would leave its floor or credit limit inside the chunk: the row path decides which CDR fails."""


def places_text(units: pl.Expr, places: pl.Expr) -> pl.Expr:
    """The text of ``units * 10^-places`` with exactly ``places`` decimals (``places`` an Int column)."""
    digits = units.abs().cast(pl.String).str.zfill(places + 1)
    cut = digits.str.len_chars() - places
    body = pl.when(places == 0).then(digits).otherwise(pl.concat_str([digits.str.slice(0, cut), pl.lit("."), digits.str.slice(cut)]))
    return pl.when(units < 0).then(pl.concat_str([pl.lit("-"), body])).otherwise(body)


def scale_of(value: Decimal) -> int:
    """The decimal places of ``value`` (0 for an integer or a positive exponent)."""
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int), "balances are finite"
    return max(0, -exponent)


def _scaled(value: Decimal, scale: int) -> int:
    """``value`` in whole ``10^-scale`` (exactly: no decimal context rounds a long balance)."""
    numerator, denominator = value.as_integer_ratio()
    scaled, rest = divmod(numerator * 10**scale, denominator)
    assert rest == 0, "the scale holds every digit"
    return int(scaled)


@dataclass(frozen=True, slots=True)
class Postings:
    """Each charged item of the chunk (``items``), the balances after the chunk (by account) and the ``low_balance``
    notifications of each CDR (by ``row``, in the row path's order)."""

    items: pl.DataFrame
    balances: dict[AccountId, Decimal]
    low_balances: dict[int, list[Notification]]


def postings(
    charged: pl.DataFrame,
    compiled: Mapping[tuple[str, str], ColumnarPlan],
    contracts: Mapping[str, Contract],
    accounts: Mapping[AccountId, Account],
) -> Postings:
    """Every charged item with its payer, amount text and, when it moves money, the account operation and the balance after.

    Raises :class:`BoundCrossed` when a prepaid balance would go below its floor or a
    postpaid one above its credit limit, and :class:`~kopek.rating.columnar.Unsupported` when a
    running balance could pass Int128 (the chunk goes to the row path).
    """
    parts = []
    for (plan_name, item_class), program in compiled.items():
        part = charged.lazy().filter((pl.col("plan") == plan_name) & (pl.col("item_class") == item_class))
        for charge in program.charges:
            spec = charge.charge
            parts.append(
                part.select(
                    "row",
                    "contract_id",
                    "contract_item_id",
                    pl.lit(charge.index, pl.Int64).alias("charge_index"),
                    pl.lit(spec.account_role).alias("account_role"),
                    pl.lit(plan_name).alias("charge_plan"),
                    pl.lit(spec.name).alias("charge"),
                    pl.lit(program.plan.currency).alias("currency"),
                    pl.lit(spec.output.value).alias("output"),
                    pl.col(f"a{charge.index}").alias("units"),
                    pl.col(f"z{charge.index}").alias("negative"),
                    pl.lit(spec.rounding.decimals, pl.Int64).alias("decimals"),
                )
            )
    roles = pl.DataFrame(
        [(contract_id, role, account_id) for contract_id, contract in contracts.items() for role, account_id in contract.roles.items()],
        schema={"contract_id": pl.String, "account_role": pl.String, "account_id": pl.String},
        orient="row",
    )
    scale = max(
        [charge.charge.rounding.decimals for program in compiled.values() for charge in program.charges]
        + [scale_of(value) for account in accounts.values() for value in _bounds(account)]
    )
    _check_room(charged, compiled, accounts, scale)
    table = _accounts_table(accounts, scale)
    items = (
        pl.concat(parts)
        .join(roles.lazy(), on=["contract_id", "account_role"], how="left")
        .join(table.lazy(), on="account_id", how="left")
        .sort("row", "charge_index")
        .with_columns(moves=pl.col("units") != 0)
        .with_columns(
            # As Decimal.quantize: a negative amount rounded to zero keeps its sign (-0.00).
            amount=pl.when(pl.col("negative") & ~pl.col("moves"))
            .then(pl.concat_str([pl.lit("-"), places_text(pl.col("units"), pl.col("decimals"))]))
            .otherwise(places_text(pl.col("units"), pl.col("decimals"))),
            step=pl.when(pl.col("moves"))
            .then(pl.col("units") * pl.lit(10, INT).pow(scale - pl.col("decimals")).cast(INT) * pl.col("sign"))
            .otherwise(pl.lit(0, INT)),
            step_places=pl.when(pl.col("moves")).then(pl.col("decimals")).otherwise(pl.col("places0")),
        )
        .with_columns(
            running=pl.col("balance0") + pl.col("step").cum_sum().over("account_id"),
            places=pl.max_horizontal(pl.col("places0"), pl.col("step_places").cum_max().over("account_id")),
        )
        .with_columns(
            balance=places_text(pl.col("running") // pl.lit(10, INT).pow(scale - pl.col("places")).cast(INT), pl.col("places")),
            operation_amount=places_text(pl.col("units") * pl.col("sign"), pl.col("decimals")),
        )
        .collect()
    )
    moving = items.filter(pl.col("moves"))
    prepaid_low = moving.filter(pl.col("prepaid") & pl.col("floor_scaled").is_not_null() & (pl.col("running") < pl.col("floor_scaled")))
    postpaid_high = moving.filter(~pl.col("prepaid") & pl.col("limit_scaled").is_not_null() & (pl.col("running") > pl.col("limit_scaled")))
    if prepaid_low.height or postpaid_high.height:
        raise BoundCrossed("a balance would leave its floor or credit limit")
    last = moving.group_by("account_id").agg(pl.col("balance").last())
    balances = {AccountId(account_id): Decimal(balance) for account_id, balance in last.iter_rows()}
    return Postings(items, balances, _low_balances(moving, accounts))


def one_per_account(items: pl.DataFrame) -> pl.DataFrame:
    """The postings of ``items`` (as :func:`postings` gives them) as one per account, as
    :func:`kopek.domain.accounts.one_per_account` makes them: ``account_id``, ``kind``, ``currency``, the amounts added
    (``amount``, with as many decimals as the most precise of them, as ``Decimal`` addition gives) and the balance after
    the last (``balance_after``)."""
    places = pl.col("decimals").max()
    aligned = pl.col("units") * pl.col("sign") * pl.lit(10, INT).pow(places - pl.col("decimals")).cast(INT)
    return (
        items.filter(pl.col("moves"))
        .group_by("account_id", maintain_order=True)
        .agg(
            pl.col("kind").first(),
            pl.col("currency").first(),
            aligned.sum().alias("total"),
            places.alias("places"),
            pl.col("balance").last().alias("balance_after"),
        )
        .select("account_id", "kind", places_text(pl.col("total"), pl.col("places")).alias("amount"), "balance_after", "currency")
    )


def _low_balances(moving: pl.DataFrame, accounts: Mapping[AccountId, Account]) -> dict[int, list[Notification]]:
    """Per CDR, a ``low_balance`` notification for each prepaid balance its postings took from at or above its
    threshold to below it (by account id): its balance before the CDR's first posting and after its last."""
    crossed = (
        moving.filter(pl.col("threshold_scaled").is_not_null())
        .group_by("row", "account_id", maintain_order=True)
        .agg(
            before=(pl.col("running") - pl.col("step")).first(),
            after=pl.col("running").last(),
            balance=pl.col("balance").last(),
            threshold=pl.col("threshold_scaled").first(),
        )
        .filter((pl.col("before") >= pl.col("threshold")) & (pl.col("threshold") > pl.col("after")))
        .sort("row", "account_id")
    )
    found: dict[int, list[Notification]] = {}
    for row, account_id, balance in crossed.select("row", "account_id", "balance").iter_rows():
        account = accounts[AccountId(account_id)]
        assert account.low_balance_threshold is not None, "only accounts with a threshold are watched"
        after = replace(account, balance=Decimal(balance))
        found.setdefault(row, []).append(low_balance_notification(after, account.low_balance_threshold))
    return found


def _check_room(
    charged: pl.DataFrame, compiled: Mapping[tuple[str, str], ColumnarPlan], accounts: Mapping[AccountId, Account], scale: int
) -> None:
    """Refuse a chunk whose running balances could pass Int128: the largest balance or bound at ``scale``, plus every
    amount of the chunk at ``scale``."""
    columns = {f"a{charge.index}" for program in compiled.values() for charge in program.charges} & set(charged.columns)
    ends = [value for column in columns for value in (charged[column].min(), charged[column].max()) if isinstance(value, int)]
    largest_units = max((abs(value) for value in ends), default=0)
    largest_bound = max((abs(_scaled(value, scale)) for account in accounts.values() for value in _bounds(account)), default=0)
    if largest_bound + charged.height * len(columns) * largest_units * 10**scale > INT128_MAX:
        raise Unsupported("a running balance could pass Int128")


def _bounds(account: Account) -> list[Decimal]:
    values = (account.balance, account.floor, account.credit_limit, _threshold(account))
    return [value for value in values if value is not None and value.is_finite()]


def _threshold(account: Account) -> Decimal | None:
    """The low-balance threshold that postings to ``account`` are watched for (prepaid only, as the row path)."""
    return account.low_balance_threshold if account.kind is AccountKind.PREPAID else None


def _accounts_table(accounts: Mapping[AccountId, Account], scale: int) -> pl.DataFrame:
    """Per payer account: its sign (a prepaid balance goes down), balance and bounds at ``scale``, and what a result shows of it."""
    records = []
    for account in accounts.values():
        prepaid = account.kind is AccountKind.PREPAID
        records.append(
            {
                "account_id": account.id,
                "prepaid": prepaid,
                "sign": -1 if prepaid else 1,
                "kind": (OperationKind.DEBIT if prepaid else OperationKind.ACCUMULATION).value,
                "balance0": _scaled(account.balance, scale),
                "places0": scale_of(account.balance),
                "floor_scaled": _scaled(account.floor, scale) if prepaid and account.floor.is_finite() else None,
                "limit_scaled": _scaled(account.credit_limit, scale) if not prepaid and account.credit_limit is not None else None,
                "threshold_scaled": _scaled(threshold, scale) if (threshold := _threshold(account)) is not None else None,
                "subscriber_account_id": account.subscriber_account_id,
                "account_kind": account.kind.value,
                "floor": to_text(account.floor),
                "credit_limit": to_text(account.credit_limit) if account.credit_limit is not None else None,
                "low_balance_threshold": to_text(account.low_balance_threshold) if account.low_balance_threshold is not None else None,
            }
        )
    schema = {
        "account_id": pl.String,
        "prepaid": pl.Boolean,
        "sign": INT,
        "kind": pl.String,
        "balance0": INT,
        "places0": pl.Int64,
        "floor_scaled": INT,
        "limit_scaled": INT,
        "threshold_scaled": INT,
        "subscriber_account_id": pl.String,
        "account_kind": pl.String,
        "floor": pl.String,
        "credit_limit": pl.String,
        "low_balance_threshold": pl.String,
    }
    return pl.DataFrame(records, schema=schema)
