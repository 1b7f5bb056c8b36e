"""The baseline of ``batch_pg`` and ``batch_sqlite``: the bench world's CDRs priced in Polars, one result row per CDR.

What a careful engineer would write by hand for this one tariff as a columnar job: read the
pending CDRs from ``cdrs`` (consumption order), decode their properties, price every CDR with
exact integers (amounts in 10^-4 of a euro, the rounding of each charge as :class:`bench.rating_baseline.BenchWorldRater`
does it: calls to cents half up, data to 10^-4 half even), the allowances and the data volume
counted per user with cumulative sums, and write one row per CDR (its id, its user, its amount,
null when refused) into a table of its own, with ``COPY ... (FORMAT BINARY)`` on PostgreSQL and one
``executemany`` on SQLite, then commit. It keeps no balances, counters, ledger or item outputs:
those are what kopek's job does beside the price.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from typing import Any

import polars as pl
import psycopg

from bench.world import BARRED, ZONES

RESULT_TABLE = "bench_rated_cdrs"
FREE_SECONDS = 3000
FREE_SMS = 50
CONNECT_FEE_THOUSANDTHS = 50
DEFAULT_ZONE = (3500, 58)
ROAMING_ZONE = (1900, 32)
SMS_CENTS = {"33": 10, "44": 15}
SMS_DEFAULT_CENTS = 25
DATA_BANDS = ((0, 1000 * 10**6, 10), (1000 * 10**6, 5000 * 10**6, 5), (5000 * 10**6, None, 2))
"""(from byte, to byte, 10^-9 euro per byte) of the graduated data tiers."""
_BARRED = -1
_PROPERTIES = pl.Struct({"duration": pl.String, "destination": pl.String, "roaming": pl.Boolean, "volume": pl.Int64})
_SELECT = "SELECT id, user_id, item_class, properties FROM cdrs ORDER BY consumption_date, id"


def _zone(destination: pl.Expr, column: int) -> pl.Expr:
    """Per-minute (``column`` 0) or per-second (1) thousandths of the longest matching zone; ``_BARRED`` for barred numbers."""
    table: dict[str, int] = {prefix: int(Decimal((minute, second)[column]) * 1000) for prefix, minute, second in ZONES}
    table.update(dict.fromkeys(BARRED, _BARRED))
    lengths = sorted({len(prefix) for prefix in table}, reverse=True)
    choices = [
        destination.str.slice(0, length).replace_strict(
            {prefix: value for prefix, value in table.items() if len(prefix) == length}, default=None, return_dtype=pl.Int64
        )
        for length in lengths
    ]
    return pl.coalesce([*choices, pl.lit(DEFAULT_ZONE[column], dtype=pl.Int64)])


def _call_thousandths(per_minute: pl.Expr, per_second: pl.Expr, seconds: pl.Expr) -> pl.Expr:
    first = pl.when(seconds > 0).then(per_minute).otherwise(0)
    return CONNECT_FEE_THOUSANDTHS + first + (seconds - 60).clip(lower_bound=0) * per_second


def _half_up_cents(thousandths: pl.Expr) -> pl.Expr:
    return (thousandths + 5) // 10


def price(cdrs: pl.DataFrame) -> pl.DataFrame:
    """``cdr_id``, ``user_id`` and ``amount`` (10^-4 euro, null: refused) of each CDR, in consumption order."""
    frame = cdrs.with_columns(pl.col("properties").str.json_decode(_PROPERTIES).alias("p")).unnest("p")
    voice, sms, data = (pl.col("item_class") == name for name in ("voice_call", "sms", "data_session"))
    roaming = pl.col("roaming").fill_null(False)
    frame = frame.with_columns(
        seconds=pl.col("duration").cast(pl.Int64).fill_null(0),
        per_minute=_zone(pl.col("destination"), 0),
        per_second=_zone(pl.col("destination"), 1),
        volume=pl.when(data).then(pl.col("volume")).otherwise(0),
    )
    allowance = voice & ~roaming & (pl.col("per_minute") != _BARRED)
    frame = frame.with_columns(
        allowed=pl.when(allowance).then(pl.col("seconds")).otherwise(0),
        texted=pl.when(sms).then(1).otherwise(0),
    ).with_columns(
        seconds_left=(FREE_SECONDS - (pl.col("allowed").cum_sum() - pl.col("allowed")).over("user_id")).clip(lower_bound=0),
        sms_left=(FREE_SMS - (pl.col("texted").cum_sum() - pl.col("texted")).over("user_id")).clip(lower_bound=0),
        volume_before=(pl.col("volume").cum_sum() - pl.col("volume")).over("user_id"),
    )
    rest = pl.col("seconds") - pl.min_horizontal(pl.col("seconds"), pl.col("seconds_left"))
    national = _half_up_cents(_call_thousandths(pl.col("per_minute"), pl.col("per_second"), rest))
    voice_cents = (
        pl.when(roaming)
        .then(_half_up_cents(_call_thousandths(pl.lit(ROAMING_ZONE[0]), pl.lit(ROAMING_ZONE[1]), pl.col("seconds"))))
        .when(pl.col("per_minute") == _BARRED)
        .then(None)
        .when((rest == 0) & (pl.col("seconds_left") > 0))
        .then(0)
        .otherwise(national)
    )
    sms_cents = (
        pl.when(pl.col("sms_left") > 0)
        .then(0)
        .otherwise(pl.col("destination").str.slice(0, 2).replace_strict(SMS_CENTS, default=SMS_DEFAULT_CENTS, return_dtype=pl.Int64))
    )
    start, end = pl.col("volume_before"), pl.col("volume_before") + pl.col("volume")
    nanos = pl.sum_horizontal(
        [
            ((end if upper is None else pl.min_horizontal(end, pl.lit(upper))) - pl.max_horizontal(start, pl.lit(lower))).clip(
                lower_bound=0
            )
            * rate
            for lower, upper, rate in DATA_BANDS
        ]
    )
    quotient, twice_rest = nanos // 100_000, (nanos % 100_000) * 2
    data_units = quotient + ((twice_rest > 100_000) | ((twice_rest == 100_000) & (quotient % 2 == 1))).cast(pl.Int64)
    amount = pl.when(voice).then(voice_cents * 100).when(sms).then(sms_cents * 100).otherwise(data_units)
    return frame.select(pl.col("id").alias("cdr_id"), "user_id", amount.alias("amount"))


def _frame(rows: list[tuple[Any, ...]]) -> pl.DataFrame:
    schema = {"id": pl.String, "user_id": pl.String, "item_class": pl.String, "properties": pl.String}
    return pl.DataFrame(rows, schema=schema, orient="row")


def prepare_postgres(url: str) -> None:
    with psycopg.connect(url) as connection:
        connection.execute(f"CREATE TABLE {RESULT_TABLE} (cdr_id varchar(128) PRIMARY KEY, user_id varchar(128) NOT NULL, amount bigint)")


def run_postgres(url: str) -> pl.DataFrame:
    """Read, price and write every CDR of ``cdrs`` (the result table emptied first); the priced frame."""
    with psycopg.connect(url) as connection:
        connection.execute(f"TRUNCATE {RESULT_TABLE}")
        priced = price(_frame(connection.execute(_SELECT).fetchall()))
        with (
            connection.cursor() as cursor,
            cursor.copy(f"COPY {RESULT_TABLE} (cdr_id, user_id, amount) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types(["varchar", "varchar", "int8"])
            for row in priced.iter_rows():
                copy.write_row(row)
        connection.commit()
    return priced


def prepare_sqlite(path: str) -> None:
    connection = sqlite3.connect(path)
    try:
        connection.execute(f"CREATE TABLE {RESULT_TABLE} (cdr_id varchar(128) PRIMARY KEY, user_id varchar(128) NOT NULL, amount bigint)")
        connection.commit()
    finally:
        connection.close()


def run_sqlite(path: str) -> pl.DataFrame:
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute(f"DELETE FROM {RESULT_TABLE}")
        priced = price(_frame(connection.execute(_SELECT).fetchall()))
        connection.executemany(f"INSERT INTO {RESULT_TABLE} VALUES (?, ?, ?)", priced.iter_rows())
        connection.commit()
    finally:
        connection.close()
    return priced
