"""The rows a vectorized chunk stores, built column-wise: postings, balances, operations, results, CDR outcomes.

Everything the row path writes for a charge is written here too, with the same values
and the same decimal text: charged items, account operations (running balances in
charging order, with the exponent ``Decimal`` arithmetic gives them), the operation with
its request hash and its full stored result (JSON, for idempotent replays), and the
CDR's outcome. Amounts stay whole numbers of ``10^-places`` (Int128) until they are
written as text, so no value passes through a binary float.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import polars as pl

from kopek.batch.cdr_outcomes import refusal
from kopek.domain.accounts import OperationKind
from kopek.domain.master import Account, AccountId, AccountKind, Contract
from kopek.errors import Code, IllegalStateError, Reason
from kopek.money import to_text
from kopek.rating.columnar import INT, ColumnarPlan
from kopek.store.bulk import insert_frame, update_frame
from kopek.store.schema import account_operations, cdrs, charged_items, charging_operations
from kopek.store.uow import UnitOfWork


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
    scaled = value.scaleb(scale)
    assert scaled == scaled.to_integral_value(), "the scale holds every digit"
    return int(scaled)


@dataclass(frozen=True, slots=True)
class Postings:
    """Each charged item of the chunk (``items``) and the balances after the chunk (by account)."""

    items: pl.DataFrame
    balances: dict[AccountId, Decimal]


def postings(
    charged: pl.DataFrame,
    compiled: Mapping[tuple[str, str], ColumnarPlan],
    contracts: Mapping[str, Contract],
    accounts: Mapping[AccountId, Account],
) -> Postings:
    """Every charged item with its payer, amount text and, when it moves money, the account operation and the balance after.

    Raises :class:`BoundCrossed` when a prepaid balance would go below its floor or a
    postpaid one above its credit limit.
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
        [
            (contract_id, role, account_id, contract.items[0].id)
            for contract_id, contract in contracts.items()
            for role, account_id in contract.roles.items()
        ],
        schema={"contract_id": pl.String, "account_role": pl.String, "account_id": pl.String, "contract_item_id": pl.String},
        orient="row",
    )
    scale = max(
        [charge.charge.rounding.decimals for program in compiled.values() for charge in program.charges]
        + [scale_of(value) for account in accounts.values() for value in _bounds(account)]
    )
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
    return Postings(items, {AccountId(account_id): Decimal(balance) for account_id, balance in last.iter_rows()})


def _bounds(account: Account) -> list[Decimal]:
    return [value for value in (account.balance, account.floor, account.credit_limit) if value is not None and value.is_finite()]


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
                "subscriber_account_id": account.subscriber_account_id,
                "account_kind": account.kind.value,
                "floor": to_text(account.floor),
                "credit_limit": to_text(account.credit_limit) if account.credit_limit is not None else None,
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
        "subscriber_account_id": pl.String,
        "account_kind": pl.String,
        "floor": pl.String,
        "credit_limit": pl.String,
    }
    return pl.DataFrame(records, schema=schema)


@dataclass(frozen=True, slots=True)
class ChunkFacts:
    """What every row of a chunk shares: when it was charged, by which job, under which catalog version."""

    now: datetime
    job_id: str
    catalog_version: int


def store(
    uow: UnitOfWork,
    frame: pl.DataFrame,
    charged: pl.DataFrame,
    posted: Postings,
    contracts: Mapping[str, Contract],
    notes: Mapping[int, str],
    facts: ChunkFacts,
) -> None:
    """Write the chunk's operations, charged items, account operations and CDR outcomes (balances, counters and
    notifications are the caller's)."""
    sqlite = uow.connection.dialect.name == "sqlite"
    stamp = _instant_format(sqlite)
    created_at = _instant_text(facts.now, sqlite)
    facts_of_items = charged.select("row", "operation_id", "item_class", "quantity", "quantity_unit", "consumption_date")
    items = posted.items.join(facts_of_items, on="row", how="left")
    results = _results(charged, items, contracts, notes, facts)
    insert_frame(
        uow.connection,
        charging_operations,
        charged.join(results, on="row", how="left").select(
            pl.col("operation_id").alias("id"),
            pl.col("id").alias("idempotency_key"),
            "request_hash",
            "contract_id",
            pl.col("contract_id").replace_strict(_subscribers(contracts), return_dtype=pl.String).alias("subscriber_account_id"),
            pl.col("consumption_date").dt.strftime(stamp),
            pl.lit(created_at).alias("created_at"),
            pl.lit(facts.job_id).alias("sender_job_id"),
            pl.lit(None, pl.String).alias("session_id"),
            "result",
        ),
    )
    insert_frame(
        uow.connection,
        charged_items,
        items.select(
            "operation_id",
            "contract_id",
            "item_class",
            *_CHARGED_ITEM_FIELDS,
            pl.col("consumption_date").dt.strftime(stamp),
        ),
    )
    moving = items.filter(pl.col("moves"))
    insert_frame(
        uow.connection,
        account_operations,
        moving.select(
            "account_id",
            "operation_id",
            "kind",
            pl.col("operation_amount").alias("amount"),
            pl.col("balance").alias("balance_after"),
            "currency",
            pl.lit(created_at).alias("created_at"),
        ),
    )
    update_frame(uow.connection, cdrs, "id", _outcomes(frame, charged))


def _subscribers(contracts: Mapping[str, Contract]) -> dict[str, str]:
    return {contract_id: contract.subscriber_account_id for contract_id, contract in contracts.items()}


def _instant_format(sqlite: bool) -> str:
    """How an instant is written: as ``UtcDateTime`` binds it (text without offset on SQLite, timestamptz text on PostgreSQL)."""
    return "%Y-%m-%dT%H:%M:%S%.6f" if sqlite else "%Y-%m-%dT%H:%M:%S%.6f+00:00"


def _instant_text(moment: datetime, sqlite: bool) -> str:
    return str(pl.Series([moment]).dt.convert_time_zone("UTC").dt.strftime(_instant_format(sqlite))[0])


def _outcomes(frame: pl.DataFrame, charged: pl.DataFrame) -> pl.DataFrame:
    """Each CDR's outcome columns: charged with its operation, failed with the no_access refusal, or skipped."""
    template = refusal(IllegalStateError(code=Code.SERVICE_NOT_ACCESSIBLE, reason=Reason.NOT_AUTHORIZED, message=""))
    failed = pl.col("status") == "failed"
    return frame.join(charged.select("row", "operation_id"), on="row", how="left").select(
        "id",
        "status",
        "operation_id",
        pl.when(failed).then(pl.lit(template["error_category"])).alias("error_category"),
        pl.when(failed).then(pl.lit(template["error_reason"])).alias("error_reason"),
        pl.when(failed).then(pl.lit(template["error_code"])).alias("error_code"),
        pl.when(failed).then(pl.col("refusal")).alias("error_message"),
    )


def _results(
    charged: pl.DataFrame, items: pl.DataFrame, contracts: Mapping[str, Contract], notes: Mapping[int, str], facts: ChunkFacts
) -> pl.DataFrame:
    """The stored result of each charged CDR (``row``, ``result``): every section of ``charge_result``, as JSON."""
    iso = "%Y-%m-%dT%H:%M:%S%.6f+00:00"
    charged_at = _instant_text(facts.now, sqlite=False)
    contract_info = pl.DataFrame(
        [
            {
                "contract_id": contract.id,
                "contract_info": {
                    "contract_id": contract.id,
                    "subscriber_account_id": contract.subscriber_account_id,
                    "status": contract.status.value,
                    "valid_from": contract.valid_from.isoformat(),
                    "valid_to": contract.valid_to.isoformat() if contract.valid_to else None,
                    "parent_id": contract.parent_id,
                },
            }
            for contract in contracts.values()
        ],
        schema={
            "contract_id": pl.String,
            "contract_info": pl.Struct(
                {
                    "contract_id": pl.String,
                    "subscriber_account_id": pl.String,
                    "status": pl.String,
                    "valid_from": pl.String,
                    "valid_to": pl.String,
                    "parent_id": pl.String,
                }
            ),
        },
    )
    charged_list = items.group_by("row", maintain_order=True).agg(
        pl.struct(*_CHARGED_ITEM_FIELDS).alias("charged_items")
    )
    operations_list = (
        items.filter(pl.col("moves"))
        .group_by("row", maintain_order=True)
        .agg(
            pl.struct(
                "account_id",
                "kind",
                pl.col("operation_amount").alias("amount"),
                pl.col("balance").alias("balance_after"),
                "currency",
            ).alias("account_operations")
        )
    )
    views = (
        items.group_by("row", "account_id", maintain_order=True)
        .agg(pl.all().last())
        .sort("row", "account_id")
        .group_by("row", maintain_order=True)
        .agg(
            pl.struct(
                "account_id",
                "subscriber_account_id",
                pl.col("account_kind").alias("kind"),
                "currency",
                "balance",
                "floor",
                "credit_limit",
                pl.lit(None, pl.String).alias("low_balance_threshold"),
            ).alias("account_info")
        )
    )
    note_frame = pl.DataFrame(
        {"row": list(notes), "notifications": list(notes.values())}, schema={"row": pl.Int64, "notifications": pl.String}
    )
    head = pl.struct(
        "operation_id",
        pl.struct(
            "operation_id",
            pl.lit(facts.catalog_version).alias("catalog_version"),
            pl.lit(charged_at).alias("charged_at"),
            pl.lit(facts.job_id).alias("sender_job_id"),
            pl.col("id").alias("idempotency_key"),
            pl.lit(value=False).alias("replayed"),
        ).alias("charging_process_info"),
        "contract_info",
        pl.struct(
            "item_class",
            pl.col("consumption_date").dt.strftime(iso).alias("consumption_date"),
            "service_id",
            "user_id",
        ).alias("chargeable_item_info"),
    ).struct.json_encode()
    return (
        charged.select("row", "operation_id", "id", "contract_id", "item_class", "consumption_date", "service_id", "user_id", "properties")
        .join(contract_info, on="contract_id", how="left")
        .join(charged_list, on="row", how="left")
        .join(operations_list, on="row", how="left")
        .join(views, on="row", how="left")
        .join(note_frame, on="row", how="left")
        .select(
            "row",
            pl.concat_str(
                [
                    head.str.slice(0, head.str.len_chars() - 2),
                    pl.lit(',"properties":'),
                    pl.col("properties"),
                    pl.lit('},"charged_items":'),
                    _json_list(pl.col("charged_items")),
                    pl.lit(',"account_operations":'),
                    _json_list(pl.col("account_operations")),
                    pl.lit(',"account_info":'),
                    _json_list(pl.col("account_info")),
                    pl.lit(',"notifications":'),
                    pl.col("notifications").fill_null("[]"),
                    pl.lit("}"),
                ]
            ).alias("result"),
        )
    )


_CHARGED_ITEM_FIELDS = (
    "contract_item_id",
    "charge_plan",
    "charge",
    "account_role",
    "account_id",
    "amount",
    "currency",
    "quantity",
    "quantity_unit",
    "output",
)


def _json_list(column: pl.Expr) -> pl.Expr:
    return pl.concat_str([pl.lit("["), column.list.eval(pl.element().struct.json_encode()).list.join(",").fill_null(""), pl.lit("]")])


def notes_json(rows: Sequence[tuple[int, list[dict[str, object]]]]) -> dict[int, str]:
    """The notifications section of the results of the rows that have some."""
    return {row: json.dumps(notes) for row, notes in rows}
