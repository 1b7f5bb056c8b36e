"""The garbage collector around bulk work: what existed before a bulk operation is not walked by its collections.

A full pass of Python's cyclic garbage collector walks every object the process holds: the
modules it imported, the compiled catalog, the engine's pools. A bulk operation (a restore of
contract states, a rating job) makes and drops objects by the million, which starts such passes
again and again, each walking the whole heap. :func:`frozen_heap` freezes the objects that exist
when the operation begins out of the collector's passes (:func:`gc.freeze`) and gives them back
when it ends (:func:`gc.unfreeze`): the passes in between walk only what the operation made.
Nothing is freed later than otherwise but a cycle of objects made before the operation that
becomes garbage during it, which the first pass after it frees.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Run the block with the objects made before it frozen out of the collector's passes; a heap frozen already (a
    served worker freezes its own once started) is left as it is, and so are operations running at once in other
    threads (the first to begin freezes, and gives the heap back when it ends)."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
