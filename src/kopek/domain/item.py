"""Chargeable items and the validation of their properties against their class."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from kopek import limits
from kopek.domain.catalog import ItemClass, PropertySpec, PropertyType
from kopek.errors import Code, ErrorDetail, InvalidError
from kopek.money import NotADecimalError, to_decimal

PropertyValue = str | Decimal | int | bool | datetime


@dataclass(frozen=True, slots=True)
class ChargeableItem:
    """One use of a service, as sent by a client; properties still raw."""

    item_class: str
    consumption_date: datetime
    service_id: str
    user_id: str
    properties: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class TypedItem:
    """A chargeable item whose properties were checked and typed against its class."""

    item_class: ItemClass
    consumption_date: datetime
    service_id: str
    user_id: str
    properties: Mapping[str, PropertyValue]

    @property
    def quantity(self) -> Decimal:
        """The item's quantity in its class's quantity unit; zero for classes without one."""
        if self.item_class.quantity is None:
            return Decimal(0)
        value = self.properties[self.item_class.quantity]
        assert isinstance(value, Decimal | int) and not isinstance(value, bool)
        return Decimal(value)


def type_item(item_class: ItemClass, item: ChargeableItem) -> TypedItem:
    """Check and type ``item``'s properties; raise one INVALID error listing every fault."""
    if item.consumption_date.tzinfo is None:
        raise InvalidError(
            code=Code.REQUEST_INVALID,
            message="the consumption date must carry a time zone offset",
            details=(ErrorDetail("naive datetime", ("consumption_date",)),),
        )
    if len(item.properties) > limits.ITEM_PROPERTIES_MAX:
        raise InvalidError(
            code=Code.LIMIT_EXCEEDED,
            message=f"an item has at most {limits.ITEM_PROPERTIES_MAX} properties",
        )
    typed: dict[str, PropertyValue] = {}
    faults: list[tuple[Code, ErrorDetail]] = []
    known = {spec.name for spec in item_class.properties}
    for name in item.properties:
        if name not in known:
            faults.append((Code.PROPERTY_UNKNOWN, ErrorDetail(f"unknown property {name!r}", ("properties", name), Code.PROPERTY_UNKNOWN)))
    for spec in item_class.properties:
        fault = _type_property(spec, item.properties, typed)
        if fault is not None:
            faults.append(fault)
    if item_class.quantity and not faults:
        quantity = typed[item_class.quantity]
        if isinstance(quantity, Decimal | int) and quantity < 0:
            faults.append(
                (
                    Code.QUANTITY_NEGATIVE,
                    ErrorDetail("the quantity must not be negative", ("properties", item_class.quantity), Code.QUANTITY_NEGATIVE),
                )
            )
    if faults:
        code = faults[0][0]
        raise InvalidError(
            code=code,
            message="; ".join(detail.message for _, detail in faults),
            details=tuple(detail for _, detail in faults),
        )
    return TypedItem(item_class, item.consumption_date, item.service_id, item.user_id, typed)


def _type_property(spec: PropertySpec, raw: Mapping[str, object], typed: dict[str, PropertyValue]) -> tuple[Code, ErrorDetail] | None:
    location = ("properties", spec.name)
    if spec.name not in raw or raw[spec.name] is None:
        if spec.default is not None:
            raw = {spec.name: spec.default}
        elif spec.required:
            return Code.PROPERTY_MISSING, ErrorDetail(f"property {spec.name!r} is required", location, Code.PROPERTY_MISSING)
        else:
            return None
    try:
        value = parse_property(spec.type, raw[spec.name])
    except ValueError as exc:
        return Code.PROPERTY_INVALID, ErrorDetail(f"property {spec.name!r}: {exc}", location, Code.PROPERTY_INVALID)
    if spec.allowed is not None and property_text(value) not in spec.allowed:
        return Code.PROPERTY_INVALID, ErrorDetail(
            f"property {spec.name!r}: {property_text(value)!r} is not one of {list(spec.allowed)}", location, Code.PROPERTY_INVALID
        )
    typed[spec.name] = value
    return None


def parse_property(kind: PropertyType, value: object) -> PropertyValue:
    """Read a raw value as ``kind``; raise ValueError with a readable message."""
    if kind is PropertyType.STRING:
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {type(value).__name__}")
        if len(value) > limits.PROPERTY_STRING_CHARS_MAX:
            raise ValueError(f"longer than {limits.PROPERTY_STRING_CHARS_MAX} characters")
        return value
    if kind is PropertyType.BOOLEAN:
        if isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return value == "true"
        raise ValueError("expected true or false")
    if kind is PropertyType.DATETIME:
        return _parse_datetime(value)
    try:
        number = to_decimal(value)
    except NotADecimalError as exc:
        raise ValueError(str(exc)) from exc
    # An exponent counts too: 1E+100 has one digit but a hundred before the point.
    if len(number.as_tuple().digits) > limits.DECIMAL_DIGITS_MAX or number.adjusted() >= limits.DECIMAL_DIGITS_MAX:
        raise ValueError(f"more than {limits.DECIMAL_DIGITS_MAX} digits")
    if kind is PropertyType.INTEGER:
        if number != number.to_integral_value():
            raise ValueError("expected an integer")
        return int(number)
    return number


def _parse_datetime(value: object) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ValueError("expected an ISO 8601 date and time") from exc
    else:
        raise ValueError("expected an ISO 8601 date and time")
    if moment.tzinfo is None:
        raise ValueError("a date and time must carry a time zone offset")
    return moment


def property_text(value: PropertyValue) -> str:
    """The text form of a property value, as used by ``allowed`` and ``switch`` cases."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)
