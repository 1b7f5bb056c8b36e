"""Pages of a list: a page of records and the cursor of the next one, the same way on every list route.

A page holds at most ``limit`` records in id order; ``next_after_id`` is the id of its last record
when more follow (pass it as ``after_id`` to read the next page), and none on the last page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

Record = TypeVar("Record")
Cursor = TypeVar("Cursor", int, str)


def page(
    fetch: Callable[[Cursor, int], list[Record]], after: Cursor, limit: int, key: Callable[[Record], Cursor]
) -> tuple[list[Record], Cursor | None]:
    """The records ``fetch(after, limit)`` gives, and the next page's cursor: a second read of one record tells whether
    any follows, so a page that happens to end the list says so."""
    found = fetch(after, limit)
    if len(found) < limit or not fetch(key(found[-1]), 1):
        return found, None
    return found, key(found[-1])
