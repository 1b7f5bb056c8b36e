"""exact counter values

Counter values (and the counter moves a session's grant holds) may have no finite decimal
expansion (a third of a minute), so they are stored as exact text: a decimal, or n/d.
Values written by the 60-digit decimal arithmetic of earlier versions (0.8333… to 60 digits
for 50 seconds in minutes) are set to the exact fraction they stood for.

Revision ID: 0017
Revises: 0016
"""

import decimal
from decimal import Decimal
from fractions import Fraction

import sqlalchemy as sa
from alembic import op

import kopek.store.types
from kopek.money import exact_text

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

COLUMNS = {
    "counters": ("value", ("contract_id", "item_id", "name")),
    "shared_counters": ("value", ("namespace", "name")),
    "activation_counters": ("value", ("contract_id", "activation_id", "name")),
    "session_counter_holds": ("delta", ("session_id", "scope", "namespace", "contract_id", "item_id", "name")),
}
TRUNCATED_DIGITS_MIN = 50
"""Earlier versions computed with 60 significant digits: a value with this many came from a division that did not end."""
DENOMINATOR_MAX = 10**20
"""The fractions rating produces have small denominators (60, 3600, the catalog's amounts): far below this."""


def settled(text: str) -> str | None:
    """The exact value that a 60-digit value stood for, as exact text; None when ``text`` is exact already."""
    value = Decimal(text)
    digits = len(value.as_tuple().digits)
    if digits < TRUNCATED_DIGITS_MIN:
        return None
    candidate = Fraction(value).limit_denominator(DENOMINATOR_MAX)
    # Two fractions of such denominators differ by far more than the last digits a 60-digit result can be off by.
    if abs(candidate - Fraction(value)) > Fraction(10) ** (value.adjusted() - TRUNCATED_DIGITS_MIN):
        return None
    return exact_text(candidate)


def upgrade() -> None:
    for table, (column, _) in COLUMNS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                column,
                existing_type=kopek.store.types.ExactDecimal(),
                type_=kopek.store.types.ExactRational(),
                existing_nullable=False,
                postgresql_using=f"{column}::text",
            )
    connection = op.get_bind()
    for table, (column, keys) in COLUMNS.items():
        found = sa.table(table, *(sa.column(name) for name in (column, *keys)))
        rows = connection.execute(sa.select(found).where(sa.func.length(found.c[column]) >= TRUNCATED_DIGITS_MIN)).mappings().all()
        for row in rows:
            exact = settled(row[column])
            if exact is not None:
                where = [found.c[key] == row[key] for key in keys]
                connection.execute(sa.update(found).where(*where).values({column: exact}))


def downgrade() -> None:
    connection = op.get_bind()
    for table, (column, keys) in COLUMNS.items():
        found = sa.table(table, *(sa.column(name) for name in (column, *keys)))
        for row in connection.execute(sa.select(found).where(found.c[column].contains("/"))).mappings().all():
            numerator, denominator = (int(part) for part in row[column].split("/"))
            with decimal.localcontext(decimal.Context(prec=60)):
                approximate = Decimal(numerator) / Decimal(denominator)
            where = [found.c[key] == row[key] for key in keys]
            connection.execute(sa.update(found).where(*where).values({column: format(approximate, "f")}))
    for table, (column, _) in COLUMNS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                column,
                existing_type=kopek.store.types.ExactRational(),
                type_=kopek.store.types.ExactDecimal(),
                existing_nullable=False,
                postgresql_using=f"{column}::numeric",
            )
