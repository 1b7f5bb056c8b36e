"""The rows a vectorized chunk stores, built column-wise and written in bulk: charged items, account operations,
CDR outcomes, the counter journal.

Everything the row path writes for a chunk is written here too, with the same values
and the same decimal text: charged items (as posted by
:mod:`kopek.rating.columnar_postings`), one account operation per account naming the
chunk, and the CDR's outcome, which is a charged CDR's record (its operation id and when
it was charged; no operation row). Amounts are text made from whole numbers of
``10^-places``, so no value passes through a binary float.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from kopek.batch.cdr_outcomes import refusal
from kopek.errors import Code, IllegalStateError, Reason
from kopek.money import exact_text
from kopek.rating.columnar_counters import NO_PERIOD, CounterMoves, StoredCounter, in_unit_text
from kopek.rating.columnar_postings import Postings, one_per_account
from kopek.store.bulk import insert_frame
from kopek.store.counter_journal_store import CHANGE, JOURNALED_SCOPES, StoredValue
from kopek.store.schema import account_operations, charged_items, counter_journal
from kopek.store.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class ChunkFacts:
    """What every row of a chunk shares: when it was charged, in which chunk."""

    now: datetime
    chunk_id: str


def store(uow: UnitOfWork, frame: pl.DataFrame, charged: pl.DataFrame, posted: Postings, facts: ChunkFacts) -> None:
    """Write the chunk's charged items, account operations and CDR outcomes (balances, counters and notifications are
    the caller's)."""
    sqlite = uow.connection.dialect.name == "sqlite"
    stamp = _instant_format(sqlite)
    created_at = _instant_text(facts.now, sqlite)
    facts_of_items = charged.select("row", "operation_id", "item_class", "quantity", "quantity_unit", "consumption_date")
    items = posted.items.join(facts_of_items, on="row", how="left")
    insert_frame(
        uow.connection,
        charged_items,
        items.select(
            "operation_id",
            "contract_id",
            "item_class",
            *_CHARGED_ITEM_FIELDS,
            pl.col("consumption_date").dt.strftime(stamp),
            pl.lit(facts.chunk_id).alias("chunk_id"),
        ),
    )
    insert_frame(
        uow.connection,
        account_operations,
        one_per_account(posted.items).with_columns(
            pl.lit(None, pl.String).alias("operation_id"), pl.lit(created_at).alias("created_at"), pl.lit(facts.chunk_id).alias("chunk_id")
        ),
    )
    uow.cdrs.set_outcome_frame(_outcomes(frame, charged, created_at).with_columns(chunk_id=pl.lit(facts.chunk_id)))


def store_journal(uow: UnitOfWork, moves: CounterMoves, charged: pl.DataFrame, facts: ChunkFacts) -> None:
    """Journal the chunk's changes of journaled counters (:mod:`kopek.store.counter_journal_store`), item after item,
    each with the row it replaced: the stored row for a counter's first change in the chunk, else the counter as its
    change before left it. Call it before the counters are stored."""
    journaled = [slot for slot, counter in enumerate(moves.counters) if counter.key.scope in JOURNALED_SCOPES]
    changed = moves.moves.filter(pl.col("slot").is_in(journaled))
    if changed.is_empty():
        return
    sqlite = uow.connection.dialect.name == "sqlite"
    slots = sorted(set(changed.get_column("slot").to_list()))
    stored = uow.counter_journal.stored({moves.counters[slot].key for slot in slots})
    counters = pl.DataFrame(
        [_journal_counter(moves.counters[slot], stored[moves.counters[slot].key], slot, sqlite) for slot in slots],
        schema=_JOURNAL_COUNTER,
        orient="row",
    )
    factors = {slot: moves.counters[slot].factor for slot in slots}
    value = pl.lit(None, pl.String)
    for factor in sorted(set(factors.values())):
        value = pl.when(pl.col("factor") == factor).then(in_unit_text(pl.col("after"), factor)).otherwise(value)
    instant = _instant_format(sqlite)
    left = (
        changed.sort("slot", "row")
        .with_columns(pl.col("slot").replace_strict(factors, return_dtype=pl.Int64).alias("factor"))
        .with_columns(
            value.alias("after_text"),
            pl.when(pl.col("period") != NO_PERIOD)
            .then(pl.col("period").cast(pl.Datetime("us", "UTC")).dt.strftime(instant))
            .alias("period_text"),
        )
        .with_columns(
            # The row each change replaced: what the counter's change before it left (none for its first).
            pl.col("after_text").shift(1).over("slot").alias("left_value"),
            pl.col("period_text").shift(1).over("slot").alias("left_period"),
            (pl.col("row") == pl.col("row").min().over("slot")).alias("first"),
        )
        .join(counters, on="slot", how="left")
        .join(charged.select("row", "operation_id"), on="row", how="left")
        .sort("row", "slot")
    )
    first = pl.col("first")
    insert_frame(
        uow.connection,
        counter_journal,
        left.select(
            "contract_id",
            "operation_id",
            pl.lit(CHANGE).alias("kind"),
            "scope",
            "item_id",
            "name",
            "unit",
            pl.when(first).then(pl.col("stored_present")).otherwise(pl.lit(value=True)).alias("present"),
            pl.when(first).then(pl.col("stored_value")).otherwise(pl.col("left_value")).alias("value"),
            pl.when(first).then(pl.col("stored_period")).otherwise(pl.col("left_period")).alias("period_start"),
            pl.when(first).then(pl.col("stored_expires")).otherwise(pl.lit(None, pl.String)).alias("expires_at"),
            pl.lit(_instant_text(facts.now, sqlite)).alias("recorded_at"),
        ),
    )


_JOURNAL_COUNTER = {
    "slot": pl.Int64,
    "contract_id": pl.String,
    "scope": pl.String,
    "item_id": pl.String,
    "name": pl.String,
    "unit": pl.String,
    "stored_present": pl.Boolean,
    "stored_value": pl.String,
    "stored_period": pl.String,
    "stored_expires": pl.String,
}
"""What the journal keeps of each counter of a chunk, and of the row stored before the chunk (texts as stored)."""


def _journal_counter(counter: StoredCounter, stored: StoredValue | None, slot: int, sqlite: bool) -> tuple[object, ...]:
    key = counter.key
    life = stored.life if stored is not None else None
    return (
        slot,
        key.contract_id,
        key.scope.value,
        key.item_id,
        key.name,
        counter.spec.unit.value,
        stored is not None,
        exact_text(stored.value) if stored is not None else None,
        _instant_text(life.period_start, sqlite) if life is not None and life.period_start is not None else None,
        _instant_text(life.expires_at, sqlite) if life is not None and life.expires_at is not None else None,
    )


def _instant_format(sqlite: bool) -> str:
    """How an instant is written: as ``UtcDateTime`` binds it (text without offset on SQLite, timestamptz text on PostgreSQL)."""
    return "%Y-%m-%dT%H:%M:%S%.6f" if sqlite else "%Y-%m-%dT%H:%M:%S%.6f+00:00"


def _instant_text(moment: datetime, sqlite: bool) -> str:
    return str(pl.Series([moment]).dt.convert_time_zone("UTC").dt.strftime(_instant_format(sqlite))[0])


def _outcomes(frame: pl.DataFrame, charged: pl.DataFrame, charged_at: str) -> pl.DataFrame:
    """Each CDR's outcome columns: charged with its operation id and ``charged_at`` (an instant as the database
    stores it), failed with the no_access refusal, or skipped."""
    template = refusal(IllegalStateError(code=Code.SERVICE_NOT_ACCESSIBLE, reason=Reason.NOT_AUTHORIZED, message=""))
    failed = pl.col("status") == "failed"
    return frame.join(charged.select("row", "operation_id"), on="row", how="left").select(
        "id",
        "status",
        "operation_id",
        pl.when(pl.col("operation_id").is_not_null()).then(pl.lit(charged_at)).alias("charged_at"),
        pl.when(failed).then(pl.lit(template["error_category"])).alias("error_category"),
        pl.when(failed).then(pl.lit(template["error_reason"])).alias("error_reason"),
        pl.when(failed).then(pl.lit(template["error_code"])).alias("error_code"),
        pl.when(failed).then(pl.col("refusal")).alias("error_message"),
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
