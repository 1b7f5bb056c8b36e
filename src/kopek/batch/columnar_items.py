"""A vectorized chunk's CDRs typed against their classes column by column.

:func:`typed_columns` takes the chunk as read from the CDR store (one column per stored
field, ``properties`` as JSON text) and gives one row per CDR: its typed properties as
text (``p:NAME``, what price trees read) and its quantity (as text and in base units),
exactly as the row path types the item.

Typing follows :func:`kopek.domain.item.type_item` to the letter, but only where the
stored text is simple enough to be read column-wise without doubt. A CDR's properties
are read column-wise when its JSON text is an object of string, integer, ``true``,
``false`` and ``null`` values written as ``json.dumps`` writes them (``", "`` and
``": "`` between, no escapes, strings of printable ASCII), each value one of:

- a string for a ``string`` property; ``true``, ``false``, ``"true"``, ``"false"`` for a
  ``boolean``; an integer, or a string holding one (no sign on zero, no leading zero),
  for an ``integer``; the same, or a string of digits with a fraction (no exponent,
  no leading zero, no negative zero, not six zeros after ``0.``), for a ``decimal``;
- ``null`` or absent (the default applies, as ``type_item`` applies it).

Each such value is checked as ``parse_property`` checks it (string length, digits,
allowed values, a negative quantity) and every refusal is a refusal. Any other CDR (a
``datetime`` property, an escaped string, a float, an exponent, an unusual service id,
...) is typed by ``type_item`` itself, one at a time, and its columns made from the
typed item as the row path makes them. A CDR that does not type raises
:class:`Untyped`, with ``type_item``'s message: the chunk then takes the row path, which
refuses that CDR precisely.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import polars as pl

from kopek import limits
from kopek.domain.catalog import Catalog, ItemClass, PropertySpec, PropertyType
from kopek.domain.item import ChargeableItem, TypedItem, parse_property, property_text, type_item
from kopek.errors import KopekError
from kopek.money import exact, to_text

INT = pl.Int128
QUANTITY_DIGITS_COLUMNAR_MAX = 18
"""A quantity read column-wise has at most this many digits: times any unit's base factor, and summed over a chunk,
it stays far inside Int128."""

QUANTITY_BASE_UNITS_MAX = 2**126
"""Past this many base units a quantity fails every chunk's integer bound (see docs/batch.md), so it is never a column."""
TYPED_COLUMNS = (
    "item_class",
    "consumption_date",
    "service_id",
    "user_id",
    "quantity",
    "quantity_unit",
    "q",
)
"""The typed chunk's columns after ``row``, ``id`` and ``contract_id``, before ``p:NAME``: see :func:`typed_columns`."""

_PLAIN = r"[ !#-\[\]-~]"
"""A character ``json.dumps`` writes as itself inside a string: printable ASCII but the quote and the backslash."""
_STRING = f'"{_PLAIN}*"'
_INTEGER = "(?:0|-?[1-9][0-9]*)"
_VALUE = f"(?:{_STRING}|{_INTEGER}|true|false|null)"
_OBJECT = f"^\\{{(?:{_STRING}: {_VALUE}(?:, {_STRING}: {_VALUE})*)?\\}}$"
_PLAIN_TEXT = f"^{_PLAIN}*$"
_INTEGER_TEXT = f'^"?{_INTEGER}"?$'
_DECIMAL_TEXT = '^"?-?(?:0|[1-9][0-9]*)(?:\\.[0-9]+)?"?$'
_DECIMAL_UNREAD = '^"?(?:-0(?:\\.0*)?"?$|-?0\\.000000)'
"""Decimal text read row by row: a negative zero, or a value whose ``str`` takes an exponent (``1E-7``)."""


class Untyped(Exception):
    """A CDR of the chunk does not type against its class (or its class is unknown); the message says why."""


class QuantityTooLarge(Exception):
    """A quantity in base units is at or past :data:`QUANTITY_BASE_UNITS_MAX`: no chunk's integer bound admits it."""


@dataclass(frozen=True, slots=True)
class _Spec:
    """A property spec with what reading it column-wise needs: its JSON key, its default typed, ..."""

    spec: PropertySpec
    key: str
    default: object
    """The typed default; ``None``: none (or one that does not type, read row by row)."""


def typed_columns(catalog: Catalog, cdrs: pl.DataFrame) -> pl.DataFrame:
    """The chunk ``cdrs`` (``id``, ``item_class``, ``consumption_date``, ``service_id``, ``user_id``, ``properties`` as
    JSON text, ``contract_id``) typed: ``row`` (its order), ``id``, ``contract_id``, then :data:`TYPED_COLUMNS` and
    ``p:NAME`` for every property of the chunk's classes. Raises :class:`Untyped` when a CDR does not type, and
    :class:`QuantityTooLarge` when a quantity is far past any chunk's integer bound."""
    cdrs = cdrs.with_columns(row=pl.int_range(pl.len(), dtype=pl.Int64))
    classes: dict[str, ItemClass] = {}
    for name in cdrs["item_class"].unique().sort().to_list():
        found = catalog.item_class(name)
        if found is None:
            raise Untyped(f"unknown chargeable item class {name!r}")
        classes[name] = found
    names = sorted({spec.name for item_class in classes.values() for spec in item_class.properties})
    parts, rest = [], []
    for name, item_class in classes.items():
        read, left = _read_class(item_class, cdrs.filter(pl.col("item_class") == name), names)
        if read is not None:
            parts.append(read)
        rest.append(left)
    left = pl.concat(rest, how="vertical").sort("row")
    if not left.is_empty():
        # In the chunk's order, so that the first CDR that does not type is the one reported.
        items = [_typed_item(classes[row["item_class"]], row) for row in left.iter_rows(named=True)]
        parts.append(_rows_columns(left, items, names))
    return pl.concat(parts, how="vertical").sort("row")


def typed_rows(catalog: Catalog, rows: Sequence[Mapping[str, Any]]) -> tuple[pl.DataFrame, list[TypedItem]]:
    """Rows shaped as CDRs (``properties`` as JSON text or a mapping) typed one at a time with ``type_item``: the
    columns of :func:`typed_columns` and the typed items."""
    items = []
    for row in rows:
        item_class = catalog.item_class(row["item_class"])
        if item_class is None:
            raise Untyped(f"unknown chargeable item class {row['item_class']!r}")
        items.append(_typed_item(item_class, row))
    names = sorted({name for item in items for name in item.properties})
    frame = pl.DataFrame(
        {
            "row": pl.Series(range(len(rows)), dtype=pl.Int64),
            "id": pl.Series([row["id"] for row in rows], dtype=pl.String),
            "contract_id": pl.Series([row["contract_id"] for row in rows], dtype=pl.String),
        }
    )
    return _rows_columns(frame, items, names), items


def _typed_item(item_class: ItemClass, row: Mapping[str, Any]) -> TypedItem:
    properties = row["properties"]
    properties = json.loads(properties) if isinstance(properties, str) else properties
    item = ChargeableItem(row["item_class"], row["consumption_date"], row["service_id"], row["user_id"], properties)
    try:
        return type_item(item_class, item)
    except KopekError as error:
        raise Untyped(error.message) from error


def _columns_of_items(items: Sequence[TypedItem], names: Sequence[str]) -> dict[str, list[Any]]:
    """What :func:`typed_columns` gives, from typed items as the row path types them."""
    columns: dict[str, list[Any]] = {
        "item_class": [item.item_class.name for item in items],
        "consumption_date": [item.consumption_date for item in items],
        "service_id": [item.service_id for item in items],
        "user_id": [item.user_id for item in items],
        "quantity": [to_text(item.quantity) for item in items],
        "quantity_unit": [unit.value if (unit := item.item_class.quantity_unit) else None for item in items],
        "q": [_base_units(item) for item in items],
    }
    for name in names:
        values = [item.properties.get(name) for item in items]
        columns[f"p:{name}"] = [property_text(value) if value is not None else None for value in values]
    return columns


def _base_units(item: TypedItem) -> int | None:
    """The item's quantity in base units; ``None`` when not whole."""
    unit = item.item_class.quantity_unit
    quantity = exact(item.quantity) * (unit.base_factor if unit is not None else 1)
    if isinstance(quantity, Fraction):
        # 1.5 minutes are 90 seconds: whole in base units though not in the unit.
        return quantity.numerator if quantity.denominator == 1 else None
    return quantity


def _series(columns: Mapping[str, list[Any]]) -> dict[str, pl.Series]:
    if any(value is not None and not -QUANTITY_BASE_UNITS_MAX < value < QUANTITY_BASE_UNITS_MAX for value in columns["q"]):
        raise QuantityTooLarge("a quantity is too large for the integer form")
    types: dict[str, pl.DataType | type[pl.DataType]] = {"consumption_date": pl.Datetime("us", "UTC"), "q": INT}
    return {name: pl.Series(values, dtype=types.get(name, pl.String)) for name, values in columns.items()}


def _rows_columns(rows: pl.DataFrame, items: Sequence[TypedItem], names: Sequence[str]) -> pl.DataFrame:
    """The columns of ``rows`` typed one at a time (``items``), as the row path types them."""
    columns = _columns_of_items(items, names)
    typed = rows.select("row", "id", "contract_id").with_columns(**_series(columns))
    return typed.select("row", "id", "contract_id", *TYPED_COLUMNS, *(f"p:{name}" for name in names))


def _specs(item_class: ItemClass) -> list[_Spec] | None:
    """The class's specs prepared for column-wise reading; ``None`` when the class is read row by row."""
    found = []
    for spec in item_class.properties:
        if spec.type is PropertyType.DATETIME or not re.fullmatch(r"[A-Za-z0-9_.\-]+", spec.name):
            return None
        default = None
        if spec.default is not None:
            try:
                default = parse_property(spec.type, spec.default)
            except ValueError:
                return None
            if spec.allowed is not None and property_text(default) not in spec.allowed:
                return None
        found.append(_Spec(spec, json.dumps(spec.name), default))
    return found


def _read_class(item_class: ItemClass, part: pl.DataFrame, names: Sequence[str]) -> tuple[pl.DataFrame | None, pl.DataFrame]:
    """The rows of one class read column-wise, and those left to ``type_item`` (any doubt, and every refusal: it
    words the refusal, and a row wrongly refused here is then typed right)."""
    specs = _specs(item_class)
    if specs is None:
        return None, part
    text = pl.col("properties")
    simple = (
        text.str.contains(_OBJECT)
        & pl.col("service_id").str.contains(_PLAIN_TEXT)
        & pl.col("user_id").str.contains(_PLAIN_TEXT)
        & pl.col("consumption_date").dt.year().is_between(1000, 9999)
    )
    keys = text.str.count_matches('": ', literal=True)
    known, twice = pl.lit(0, pl.UInt32), pl.lit(value=False)
    for prepared in specs:
        known = known + text.str.contains(f"{prepared.key}: ", literal=True).cast(pl.UInt32)
        twice = twice | (text.str.count_matches(f"{prepared.key}: ", literal=True) > 1)
    checks = part.select(
        left=~simple.fill_null(value=False) | (keys > limits.ITEM_PROPERTIES_MAX) | (keys != known) | twice,
    )["left"]
    values: dict[str, pl.Series] = {}
    for prepared in specs:
        value = f'(?:\\{{|, ){re.escape(prepared.key)}: ({_VALUE})(?:, "|\\}})'
        token = part.select(text.str.extract(value, 1)).to_series()
        read = _read_value(prepared, token, quantity=prepared.spec.name == item_class.quantity)
        checks = checks | read.refused | read.unread
        values[prepared.spec.name] = read.text
    fast = ~checks
    chosen = {name: found.filter(fast) for name, found in values.items()}
    return _fast_columns(item_class, specs, part.filter(fast), chosen, names), part.filter(checks)


@dataclass(frozen=True, slots=True)
class _Read:
    """One property of every row of a class read column-wise: refused, left to ``type_item``, and its text (null when
    absent without a default)."""

    refused: pl.Series
    unread: pl.Series
    text: pl.Series


def _read_value(prepared: _Spec, token: pl.Series, *, quantity: bool) -> _Read:
    spec = prepared.spec
    frame = pl.DataFrame({"t": token})
    t = pl.col("t")
    missing = t.is_null() | (t == "null")
    quoted = t.str.starts_with('"')
    inner = t.str.strip_prefix('"').str.strip_suffix('"')
    if spec.type is PropertyType.STRING:
        given_ok = quoted & (inner.str.len_bytes() <= limits.PROPERTY_STRING_CHARS_MAX)
        given_refused = ~given_ok
        given_unread = pl.lit(value=False)
        text = inner
    elif spec.type is PropertyType.BOOLEAN:
        truth = t.is_in(["true", '"true"'])
        given_refused = ~(truth | t.is_in(["false", '"false"']))
        given_unread = pl.lit(value=False)
        text = pl.when(truth).then(pl.lit("true")).otherwise(pl.lit("false"))
    else:
        integer = spec.type is PropertyType.INTEGER
        pattern = _INTEGER_TEXT if integer else _DECIMAL_TEXT
        digits = inner.str.count_matches("[0-9]")
        shaped = t.str.contains(pattern) & ~t.str.contains(_DECIMAL_UNREAD)
        too_long = digits > (QUANTITY_DIGITS_COLUMNAR_MAX if quantity else limits.DECIMAL_DIGITS_MAX)
        is_bool = t.is_in(["true", "false"])
        # A bare integer of too many digits, or a boolean, is refused; any other doubt goes to type_item.
        given_refused = is_bool | (~quoted & shaped & (digits > limits.DECIMAL_DIGITS_MAX))
        given_unread = ~is_bool & (~shaped | too_long) & ~given_refused
        if quantity:
            given_refused = given_refused | (shaped & ~given_unread & inner.str.starts_with("-"))
        text = inner
    if spec.allowed is not None:
        given_refused = given_refused | (~given_unread & ~text.is_in(list(spec.allowed)))
    if prepared.default is not None:
        default_text = property_text(prepared.default)  # type: ignore[arg-type]
        missing_refused, missing_text = pl.lit(value=False), pl.lit(default_text)
        missing_unread = pl.lit(value=quantity and spec.type is PropertyType.DECIMAL and default_text.startswith("-"))
    else:
        missing_refused, missing_text = pl.lit(value=spec.required), pl.lit(None, pl.String)
        # An absent quantity: TypedItem.quantity reads it; type_item's own path says what happens.
        missing_unread = pl.lit(value=quantity and not spec.required)
    result = frame.select(
        refused=pl.when(missing).then(missing_refused).otherwise(given_refused),
        unread=pl.when(missing).then(missing_unread).otherwise(given_unread),
        text=pl.when(missing).then(missing_text).otherwise(text),
    )
    return _Read(*(result[name].fill_null(value=False) if name in ("refused", "unread") else result[name] for name in result.columns))


def _fast_columns(
    item_class: ItemClass,
    specs: Sequence[_Spec],
    fast: pl.DataFrame,
    values: Mapping[str, pl.Series],
    names: Sequence[str],
) -> pl.DataFrame:
    """The columns of rows read column-wise."""
    columns = {f"p:{prepared.spec.name}": values[prepared.spec.name].alias(f"p:{prepared.spec.name}") for prepared in specs}
    unit = item_class.quantity_unit
    if item_class.quantity is None:
        quantity_text, base = pl.lit("0"), pl.lit(0, INT)
    else:
        quantity_text = pl.lit(values[item_class.quantity])
        base = _base(quantity_text, unit.base_factor if unit is not None else 1)
    found = fast.select(
        "row",
        "id",
        "contract_id",
        "item_class",
        "consumption_date",
        "service_id",
        "user_id",
        quantity=quantity_text,
        quantity_unit=pl.lit(unit.value if unit is not None else None, pl.String),
        q=base,
    )
    return found.with_columns(
        *(columns[f"p:{name}"] if f"p:{name}" in columns else pl.lit(None, pl.String).alias(f"p:{name}") for name in names)
    ).select("row", "id", "contract_id", *TYPED_COLUMNS, *(f"p:{name}" for name in names))


def _base(text: pl.Expr, factor: int) -> pl.Expr:
    """Decimal ``text`` (at most ``QUANTITY_DIGITS_COLUMNAR_MAX`` digits, no exponent) times ``factor``, in Int128;
    null when not whole."""
    fraction = text.str.extract(r"\.([0-9]+)$", 1).fill_null("")
    places = fraction.str.len_bytes()
    digits = text.str.replace(".", "", literal=True).str.to_integer(dtype=INT)
    scale = places.replace_strict({places: 10**places for places in range(QUANTITY_DIGITS_COLUMNAR_MAX + 1)}, return_dtype=INT)
    scaled = digits * pl.lit(factor, INT)
    return pl.when(scaled % scale == 0).then(scaled // scale).otherwise(pl.lit(None, INT))
