"""A bad catalog is refused with INVALID ``catalog_invalid``; every fault names the source and its path."""

from __future__ import annotations

import textwrap
from decimal import Decimal

import pydantic
import pytest
from rating_support import ITEM_CLASSES_YAML, load_catalog

from kopek.documents import parse_document
from kopek.domain.catalog import Catalog, RateNode
from kopek.domain.catalog_load import catalog_from_document, format_location
from kopek.errors import Category, Code, InvalidError


def refusal(text: str) -> InvalidError:
    """The error refusing the catalog ``text`` (standard item classes, then ``text``)."""
    with pytest.raises(InvalidError) as raised:
        load_catalog(ITEM_CLASSES_YAML + textwrap.dedent(text))
    error = raised.value
    assert (error.category, error.code) == (Category.INVALID, Code.CATALOG_INVALID)
    return error


def faults(text: str) -> list[tuple[str, str]]:
    """(where, what) for every fault of the catalog ``text``."""
    return [(format_location(detail.location), detail.message) for detail in refusal(text).details]


def plan(price: str, *, counters: str = "[]", item_class: str = "call", extra: str = "") -> str:
    """A one-charge plan pricing ``item_class`` with the flow-style node ``price``."""
    return f"""
charge_plans:
  - name: plan
    currency: EUR
    counters: {counters}
    charges:
      - name: main
        item_class: {item_class}
        price: {price}
        {extra}
"""


# ---- numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "source"),
    [
        pytest.param('{"charge_plans": [{"name": "p", "currency": "EUR", "charges": [CHARGE]}]}', "tariff.json", id="json-number"),
        pytest.param("charge_plans: [{name: p, currency: EUR, charges: [CHARGE]}]", "tariff.yaml", id="yaml-number"),
    ],
)
def test_a_number_with_a_fraction_in_catalog_text_is_read_exactly(text: str, source: str) -> None:
    charge = '{"name": "c", "item_class": "sms", "price": {"type": "flat", "amount": 0.10}}'
    document = parse_document(text.replace("CHARGE", charge), source=source)
    document["item_classes"] = [{"name": "sms"}]

    catalog = catalog_from_document(document, source=source)

    flat = catalog.charge_plans[0].charges[0].price
    assert str(flat.amount) == "0.10"  # type: ignore[union-attr]


def test_a_python_float_given_to_the_catalog_model_is_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="float is not an exact decimal number"):
        RateNode.model_validate({"type": "rate", "amount": 0.1, "unit": "seconds"})


def test_a_python_float_in_a_catalog_document_is_refused_at_its_path() -> None:
    document = {
        "item_classes": [{"name": "sms"}],
        "charge_plans": [
            {"name": "p", "currency": "EUR", "charges": [{"name": "c", "item_class": "sms", "price": {"type": "flat", "amount": 0.1}}]}
        ],
    }

    with pytest.raises(InvalidError) as raised:
        catalog_from_document(document, source="built-in")

    assert [(detail.location, detail.message) for detail in raised.value.details] == [
        (("built-in", "charge_plans", 0, "charges", 0, "price", "amount"), "Value error, float is not an exact decimal number")
    ]


def test_the_catalog_model_accepts_decimals_integers_and_text() -> None:
    for amount in (Decimal("0.10"), 1, "0.10"):
        assert RateNode.model_validate({"type": "rate", "amount": amount, "unit": "seconds"}).amount == Decimal(amount)
    assert Catalog.model_validate({}) == Catalog()


# ---- structure (parsing) ----------------------------------------------------------------------


def test_an_unknown_node_type_is_named_at_its_path() -> None:
    [(where, _)] = faults(plan("{type: discount_of_the_day, amount: 1}"))

    assert where == "tariff.yaml.charge_plans[0].charges[0].price"


def test_a_misspelt_key_is_refused() -> None:
    assert faults(plan("{type: rate, amount: 1, unit: seconds, incremnet: 1}")) == [
        ("tariff.yaml.charge_plans[0].charges[0].price.incremnet", "Extra inputs are not permitted")
    ]


def test_an_unquoted_yes_or_number_as_a_case_key_is_refused() -> None:
    [(where, message)] = faults(plan("{type: switch, property: network, cases: {44: {type: flat, amount: 1}}}"))

    assert where == "tariff.yaml.charge_plans[0].charges[0].price.cases[44].[key]"
    assert message == "Input should be a valid string"


def test_one_bad_charge_is_one_fault_not_also_an_empty_list_of_charges() -> None:
    assert faults(plan("{type: flat, amount: ten}")) == [
        ("tariff.yaml.charge_plans[0].charges[0].price.amount", "Value error, 'ten' is not a decimal number")
    ]


def test_a_plan_without_charges_or_fees_is_refused() -> None:
    assert faults("charge_plans: [{name: plan, currency: EUR, charges: []}]") == [
        ("tariff.yaml.charge_plans[0]", "Value error, a charge plan needs at least one charge or one fee")
    ]


def test_every_structural_fault_is_collected() -> None:
    text = """
charge_plans:
  - name: plan
    currency: euro
    charges:
      - name: one
        item_class: call
        price: {type: rate, amount: 1, unit: fortnights}
      - name: two
        item_class: call
        price: {type: tiers, bands: [{up_to: -5, price: {type: flat, amount: 1}}]}
"""

    assert [where for where, _ in faults(text)] == [
        "tariff.yaml.charge_plans[0].currency",
        "tariff.yaml.charge_plans[0].charges[0].price.unit",
        "tariff.yaml.charge_plans[0].charges[1].price.bands[0].up_to",
    ]


# ---- cross-references (rules) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        pytest.param(
            plan("{type: flat, amount: 1}", item_class="fax"),
            "tariff.yaml.charge_plans[0].charges[0].item_class",
            "unknown item class 'fax'",
            id="unknown-item-class",
        ),
        pytest.param(
            plan("{type: allowance, counter: free_minutes, then: {type: flat, amount: 1}}"),
            "tariff.yaml.charge_plans[0].charges[0].price.counter",
            "unknown counter 'free_minutes'",
            id="unknown-allowance-counter",
        ),
        pytest.param(
            plan("{type: tiers, counter: minutes_used, bands: [{price: {type: flat, amount: 1}}]}"),
            "tariff.yaml.charge_plans[0].charges[0].price.counter",
            "unknown counter 'minutes_used'",
            id="unknown-tiers-counter",
        ),
        pytest.param(
            plan("{type: flat, amount: 1}", extra="counter_updates: [{counter: calls, add: one}]"),
            "tariff.yaml.charge_plans[0].charges[0].counter_updates[0].counter",
            "unknown counter 'calls'",
            id="unknown-updated-counter",
        ),
        pytest.param(
            plan("{type: rate, amount: 1, unit: megabytes}"),
            "tariff.yaml.charge_plans[0].charges[0].price.unit",
            "rate in megabytes but item class 'call' measures seconds",
            id="rate-unit-of-another-dimension",
        ),
        pytest.param(
            plan("{type: rate, amount: 1, unit: events}", item_class="data"),
            "tariff.yaml.charge_plans[0].charges[0].price.unit",
            "rate in events but item class 'data' measures bytes",
            id="rate-in-events-for-bytes",
        ),
        pytest.param(
            plan(
                "{type: allowance, counter: free_data, then: {type: flat, amount: 1}}",
                counters="[{name: free_data, unit: megabytes}]",
            ),
            "tariff.yaml.charge_plans[0].charges[0].price.counter",
            "allowance counter 'free_data' is in megabytes, not in the quantity's dimension",
            id="allowance-counter-of-another-dimension",
        ),
        pytest.param(
            plan("{type: tiers, unit: bytes, bands: [{price: {type: flat, amount: 1}}]}"),
            "tariff.yaml.charge_plans[0].charges[0].price.unit",
            "tier unit bytes is not in the basis's dimension",
            id="tier-unit-of-another-dimension",
        ),
        pytest.param(
            plan("{type: flat, amount: 1}", counters="[{name: used, unit: bytes}]", extra="counter_updates: [{counter: used}]"),
            "tariff.yaml.charge_plans[0].charges[0].counter_updates[0]",
            "counter 'used' is in bytes, not in the quantity's dimension",
            id="quantity-added-to-counter-of-another-dimension",
        ),
        pytest.param(
            plan("{type: tiers, bands: [{up_to: 300, price: {type: flat, amount: 1}}, {up_to: 60, price: {type: flat, amount: 2}}]}"),
            "tariff.yaml.charge_plans[0].charges[0].price.bands",
            "band bounds must strictly ascend",
            id="descending-bands",
        ),
        pytest.param(
            plan("{type: tiers, bands: [{up_to: 60, price: {type: flat, amount: 1}}, {up_to: 60, price: {type: flat, amount: 2}}]}"),
            "tariff.yaml.charge_plans[0].charges[0].price.bands",
            "band bounds must strictly ascend",
            id="equal-bands",
        ),
        pytest.param(
            plan("{type: tiers, bands: [{price: {type: flat, amount: 1}}, {up_to: 60, price: {type: flat, amount: 2}}]}"),
            "tariff.yaml.charge_plans[0].charges[0].price.bands",
            "only the last band may be open-ended",
            id="open-band-before-the-last",
        ),
        pytest.param(
            plan("{type: range, property: hour, ranges: [{from: 8, to: 8, price: {type: flat, amount: 1}}]}"),
            "tariff.yaml.charge_plans[0].charges[0].price.ranges[0]",
            "a range's 'from' must be below its 'to'",
            id="empty-range",
        ),
        pytest.param(
            plan("{type: prefix, property: hour, prefixes: {'1': {type: flat, amount: 1}}}"),
            "tariff.yaml.charge_plans[0].charges[0].price.property",
            "property 'hour' is integer, expected string",
            id="prefix-on-a-number",
        ),
        pytest.param(
            plan("{type: range, property: network, ranges: [{from: 1, price: {type: flat, amount: 1}}]}"),
            "tariff.yaml.charge_plans[0].charges[0].price.property",
            "property 'network' is string, expected decimal or integer",
            id="range-on-a-string",
        ),
        pytest.param(
            plan("{type: switch, property: colour, cases: {red: {type: flat, amount: 1}}}"),
            "tariff.yaml.charge_plans[0].charges[0].price.property",
            "item class 'call' has no property 'colour'",
            id="switch-on-an-unknown-property",
        ),
        pytest.param(
            plan("{type: rate, amount: 1, unit: seconds, per_property: network}"),
            "tariff.yaml.charge_plans[0].charges[0].price.per_property",
            "property 'network' is string, expected decimal or integer",
            id="per-property-that-is-a-string",
        ),
    ],
)
def test_a_broken_reference_is_refused_at_its_path(text: str, where: str, message: str) -> None:
    assert faults(text) == [(where, message)]


@pytest.mark.parametrize(
    ("item_class", "message"),
    [
        pytest.param(
            "{name: fax, quantity: pages, properties: [{name: pages, type: string, unit: events}]}",
            "the quantity property must be a decimal or integer with a unit",
            id="quantity-that-is-a-string",
        ),
        pytest.param(
            "{name: fax, quantity: pages, properties: [{name: pages, type: integer}]}",
            "the quantity property must be a decimal or integer with a unit",
            id="quantity-without-a-unit",
        ),
        pytest.param(
            "{name: fax, quantity: pages}",
            "quantity names unknown property 'pages'",
            id="quantity-of-an-unknown-property",
        ),
        pytest.param(
            "{name: fax, quantity: pages, properties: [{name: pages, type: integer, unit: events, required: false}]}",
            "the quantity property must be required or have a default",
            id="optional-quantity-without-a-default",
        ),
    ],
)
def test_a_bad_quantity_property_is_refused(item_class: str, message: str) -> None:
    text = f"""
item_classes:
  - {item_class}
"""
    with pytest.raises(InvalidError) as raised:
        load_catalog(text)

    assert [(format_location(detail.location), detail.message) for detail in raised.value.details] == [
        ("tariff.yaml.item_classes[0].quantity", message)
    ]


def test_an_optional_quantity_with_a_default_is_accepted() -> None:
    catalog = load_catalog("""
item_classes:
  - name: fax
    quantity: pages
    properties: [{name: pages, type: integer, unit: events, required: false, default: 1}]
""")

    assert catalog.item_class("fax") is not None


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        pytest.param(
            "item_classes: [{name: sms}, {name: sms}]",
            "tariff.yaml.item_classes",
            "'sms' is defined more than once",
            id="item-class",
        ),
        pytest.param(
            "item_classes: [{name: sms, properties: [{name: to, type: string}, {name: to, type: string}]}]",
            "tariff.yaml.item_classes[0].properties",
            "property 'to' is defined more than once",
            id="property",
        ),
        pytest.param(
            "item_classes: [{name: sms}]\n"
            "charge_plans:\n"
            "  - {name: p, currency: EUR, charges: [{name: c, item_class: sms, price: {type: flat, amount: 1}}]}\n"
            "  - {name: p, currency: EUR, charges: [{name: c, item_class: sms, price: {type: flat, amount: 2}}]}\n",
            "tariff.yaml.charge_plans",
            "'p' is defined more than once",
            id="charge-plan",
        ),
        pytest.param(
            "item_classes: [{name: sms}]\n"
            "charge_plans:\n"
            "  - name: p\n"
            "    currency: EUR\n"
            "    charges:\n"
            "      - {name: c, item_class: sms, price: {type: flat, amount: 1}}\n"
            "      - {name: c, item_class: sms, price: {type: flat, amount: 2}}\n",
            "tariff.yaml.charge_plans[0].charges",
            "charge 'c' is defined more than once",
            id="charge",
        ),
        pytest.param(
            "item_classes: [{name: sms}]\n"
            "charge_plans:\n"
            "  - name: p\n"
            "    currency: EUR\n"
            "    counters: [{name: sent, unit: events}, {name: sent, unit: events}]\n"
            "    charges: [{name: c, item_class: sms, price: {type: flat, amount: 1}}]\n",
            "tariff.yaml.charge_plans[0].counters",
            "counter 'sent' is defined more than once",
            id="counter",
        ),
        pytest.param(
            "item_classes: [{name: sms}]\n"
            "charge_plans:\n"
            "  - name: p\n"
            "    currency: EUR\n"
            "    counters: [{name: sent, scope: contract, unit: events}]\n"
            "    charges: [{name: c, item_class: sms, price: {type: flat, amount: 1}}]\n"
            "  - name: q\n"
            "    currency: EUR\n"
            "    counters: [{name: sent, scope: contract, unit: events, initial: 5}]\n"
            "    charges: [{name: c, item_class: sms, price: {type: flat, amount: 1}}]\n",
            "tariff.yaml.charge_plans[1].counters[0]",
            "contract counter 'sent' is declared by several plans with a different unit, initial value or reset",
            id="contract-counter-declared-differently",
        ),
    ],
)
def test_a_duplicate_name_is_refused(text: str, where: str, message: str) -> None:
    with pytest.raises(InvalidError) as raised:
        load_catalog(text)

    assert [(format_location(detail.location), detail.message) for detail in raised.value.details] == [(where, message)]


def test_a_pricing_tree_deeper_than_the_limit_is_refused() -> None:
    node = "{type: flat, amount: 1}"
    for _ in range(40):
        node = f"{{type: connect_fee, amount: 0, then: {node}}}"

    [(where, message)] = faults(plan(node))

    assert where.startswith("tariff.yaml.charge_plans[0].charges[0].price.then.then")
    assert message == "pricing tree deeper than 32 nodes"


def test_every_cross_reference_fault_is_collected_not_only_the_first() -> None:
    text = """
charge_plans:
  - name: plan
    currency: EUR
    counters: [{name: free_data, unit: megabytes}]
    charges:
      - name: unknown_class
        item_class: fax
        price: {type: flat, amount: 1}
      - name: wrong_unit
        item_class: call
        price:
          type: sum
          parts:
            - {type: rate, amount: 1, unit: bytes}
            - {type: allowance, counter: nothing_here, then: {type: flat, amount: 1}}
            - {type: tiers, bands: [{up_to: 9, price: {type: flat, amount: 1}}, {up_to: 3, price: {type: flat, amount: 1}}]}
"""
    error = refusal(text)

    assert error.message == "tariff.yaml: the catalog has 4 fault(s)"
    assert [where for where, _ in faults(text)] == [
        "tariff.yaml.charge_plans[0].charges[0].item_class",
        "tariff.yaml.charge_plans[0].charges[1].price.parts[0].unit",
        "tariff.yaml.charge_plans[0].charges[1].price.parts[1].counter",
        "tariff.yaml.charge_plans[0].charges[1].price.parts[2].bands",
    ]


def test_the_error_wire_shape_lists_every_fault() -> None:
    body = refusal(plan("{type: flat, amount: 1}", item_class="fax")).as_dict()

    assert body["category"] == "INVALID"
    assert body["code"] == "catalog_invalid"
    assert body["details"] == [
        {"message": "unknown item class 'fax'", "location": ["tariff.yaml", "charge_plans", 0, "charges", 0, "item_class"], "code": None}
    ]


@pytest.mark.parametrize(
    ("location", "text"),
    [
        pytest.param((), "(document)", id="empty"),
        pytest.param(("tariff.yaml",), "tariff.yaml", id="source-only"),
        pytest.param(
            ("tariff.yaml", "charge_plans", 0, "charges", 1, "price"), "tariff.yaml.charge_plans[0].charges[1].price", id="nested"
        ),
    ],
)
def test_a_location_reads_as_a_path(location: tuple[str | int, ...], text: str) -> None:
    assert format_location(location) == text
