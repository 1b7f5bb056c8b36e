"""Column types that keep exact values on every backend.

``ExactDecimal`` is ``NUMERIC`` without scale on PostgreSQL and exact decimal text
on SQLite (whose own NUMERIC affinity would go through binary floats).
``ExactRational`` is text on both: an exact number that may have no finite decimal
expansion (a counter holding a third of a minute), in its canonical form, a decimal
(``12.5``) or ``n/d`` (``1/3``); read back as an ``int`` or a ``Fraction``.
``UtcDateTime`` stores instants in UTC; on SQLite as fixed-width ISO text, so text
order is time order.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from kopek.money import Exact, ExactInput, exact, exact_text, parse_exact, to_text

_SQLITE_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"


class ExactDecimal(TypeDecorator[Decimal]):
    impl = sa.String
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(sa.Numeric(asdecimal=True))
        return dialect.type_descriptor(sa.String())

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        assert isinstance(value, Decimal), f"money must be Decimal, got {type(value).__name__}"
        return value if dialect.name == "postgresql" else to_text(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(value)


class ExactRational(TypeDecorator[Exact]):
    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: ExactInput | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        assert isinstance(value, Fraction | Decimal | int), f"an exact number, got {type(value).__name__}"
        return exact_text(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Exact | None:
        if value is None:
            return None
        return parse_exact(value) if isinstance(value, str) else exact(value)


class UtcDateTime(TypeDecorator[datetime]):
    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(26))
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        assert value.tzinfo is not None, "instants are stored time-zone aware"
        utc = value.astimezone(UTC)
        # isoformat gives _SQLITE_FORMAT (years from 1000) several times faster than strftime.
        return utc.replace(tzinfo=None).isoformat(timespec="microseconds") if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            # Always written with _SQLITE_FORMAT (six fraction digits), which fromisoformat reads exactly, and far faster than strptime.
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        assert isinstance(value, datetime)
        return value.astimezone(UTC)


DECIMAL, RATIONAL, INSTANT = ExactDecimal(), ExactRational(), UtcDateTime()
"""One instance of each type, for code that converts values itself (the hot paths' prebuilt statements): a type
object is stateless, so building one per value (a few dozen per charge) is wasted work."""
