"""Currencies and their scale: how many decimal places an amount a person enters may have.

Each currency's scale is its ISO 4217 minor unit (two places for EUR, none for JPY,
three for KWD), from the ISO 4217 list published on 2026-01-01. A catalog may declare
another scale for a currency (``currencies`` in docs/catalog.md, section 1), for an
operator that keeps sub-cent balances or uses a code ISO 4217 does not list. A currency
without a scale, neither in ISO 4217 (precious metals, ``XXX``) nor in the catalog, takes
whole amounts only.

The scale bounds what people enter: adjustments, refills, opening balances, floors,
credit limits and thresholds. Rated amounts keep the places their catalog rounding gives
them, and catalog prices their own.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from decimal import Decimal
from typing import Final

from kopek.errors import Code, ErrorDetail, InvalidError

_ISO_4217_CODES_BY_DECIMALS: Final = {
    0: ("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"),
    2: (
        "AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BMD BND BOB BOV BRL BSD BTN BWP BYN BZD CAD CDF CHE CHF CHW CNY COP COU "
        "CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES "
        "KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR "
        "NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP "
        "TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XAD XCD XCG YER ZAR ZMW ZWG"
    ),
    3: "BHD IQD JOD KWD LYD OMR TND",
    4: "CLF UYW",
}
_ISO_4217_CODES_WITHOUT_MINOR_UNITS: Final = "XAG XAU XBA XBB XBC XBD XDR XPD XPT XSU XTS XUA XXX"

ISO_4217_DECIMALS: Final[Mapping[str, int | None]] = {
    **{code: decimals for decimals, codes in _ISO_4217_CODES_BY_DECIMALS.items() for code in codes.split()},
    **dict.fromkeys(_ISO_4217_CODES_WITHOUT_MINOR_UNITS.split()),
}
"""Every active ISO 4217 currency code and its minor unit (None: the list gives none, as for gold)."""

DECIMALS_WITHOUT_SCALE: Final = 0
"""The places of a currency that has no scale: whole amounts only, until the catalog declares one."""


def currency_decimals(currency: str, declared: Mapping[str, int]) -> int | None:
    """The places amounts entered in ``currency`` may have: the catalog's declaration, else ISO 4217's
    minor unit; None when neither gives one."""
    if currency in declared:
        return declared[currency]
    return ISO_4217_DECIMALS.get(currency)


def entered_amount(amount: Decimal, currency: str, declared: Mapping[str, int], *, field: tuple[str | int, ...]) -> Decimal:
    """``amount`` as a person entered it in ``currency``, refused when it needs more places than the currency has.

    Trailing zeros past the scale are dropped (``10.500`` EUR is ``10.50``), so what is stored never
    carries more places than its currency; the value never changes. ``field`` names the input in the error.
    """
    decimals = currency_decimals(currency, declared)
    places = decimals if decimals is not None else DECIMALS_WITHOUT_SCALE
    exponent = amount.as_tuple().exponent
    assert isinstance(exponent, int), "amounts are parsed finite"
    if exponent >= -places:
        return amount
    # Exact arithmetic on the amount's own digits: neither step can round.
    context = decimal.Context(prec=len(amount.as_tuple().digits) + places + 1)
    significant = amount.normalize(context).as_tuple().exponent
    assert isinstance(significant, int)
    if amount.is_zero() or significant >= -places:
        return amount.quantize(Decimal(1).scaleb(-places), context=context)
    where = ".".join(str(part) for part in field)
    scale = f"{places} decimal place(s)" if decimals is not None else "no scale (whole amounts only; declare its decimals in the catalog)"
    message = f"{where}: {amount} {currency} has more decimal places than {currency} allows: {scale}"
    raise InvalidError(
        code=Code.AMOUNT_PLACES_EXCEED_CURRENCY, message=message, details=(ErrorDetail(message, field, Code.AMOUNT_PLACES_EXCEED_CURRENCY),)
    )
