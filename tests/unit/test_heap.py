""":func:`kopek.heap.frozen_heap`: what existed before a bulk operation is frozen out of the collector's passes during it,
and given back after it; a heap frozen already stays as it was."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from kopek.heap import frozen_heap


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()  # another test of this process may have frozen it (a served app freezes its heap once started)
    yield
    gc.unfreeze()


def _walked(item: object) -> bool:
    """Whether the collector's passes walk ``item`` (frozen objects are in none of its generations)."""
    return any(found is item for found in gc.get_objects())


def test_the_objects_made_before_the_block_are_frozen_during_it_and_given_back_after(unfrozen: None) -> None:
    before: list[object] = []
    with frozen_heap():
        made: list[object] = []
        during = (_walked(before), _walked(made))
    assert during == (False, True)
    assert (_walked(before), gc.get_freeze_count()) == (True, 0)


def test_a_failing_block_gives_the_heap_back(unfrozen: None) -> None:
    with pytest.raises(RuntimeError), frozen_heap():
        raise RuntimeError("refused")
    assert gc.get_freeze_count() == 0


def test_a_heap_frozen_already_is_left_as_it_was(unfrozen: None) -> None:
    gc.freeze()
    with frozen_heap():
        made: list[object] = []
        walked = _walked(made)  # nothing more was frozen: what exists now is walked
    assert walked
    assert gc.get_freeze_count() > 0, "what was frozen before stays frozen"
