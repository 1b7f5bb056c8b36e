"""What rating reads besides the catalog and the item: a contract and the counter values it can see.

Counter values are exact numbers in each counter's own unit (an ``int``, a ``Fraction``, or a
finite ``Decimal`` as some callers still pass); rating converts them to base units itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, NamedTuple

from kopek.domain.catalog import CounterScope
from kopek.domain.master import Contract
from kopek.domain.outcome import CounterChange, CounterKey
from kopek.money import Exact, ExactInput, exact


class CounterLife(NamedTuple):
    """When a stored counter value's reset period started and when the value lapses (none: unknown, never).

    A named tuple: the engine makes one for every counter change it stores (see :class:`RatingState`)."""

    period_start: datetime | None = None
    expires_at: datetime | None = None


NO_LIFE: Final = CounterLife()


@dataclass(frozen=True, slots=True)
class CounterHold:
    """How far the live grants of sessions move a counter this contract sees (its own, a shared allowance, a parent's
    bundle), in the reset period they were priced in. Rating adds it only in that period."""

    delta: ExactInput
    period_start: datetime | None = None


class _Nothing(dict[CounterKey, Any]):
    """No counters at all: the default of a state's optional mappings, shared (a frozen state never changes it) so
    that making a state allocates nothing. An empty dictionary that refuses every change, so that asking it (is it
    empty, what does it hold) costs what asking a dictionary costs."""

    def _refuse(self, *_: object, **__: object) -> Any:
        raise TypeError("the empty counters of a rating state do not change")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _refuse

    def __hash__(self) -> int:  # type: ignore[override]
        return 0


NOTHING: Final[Mapping[CounterKey, Any]] = _Nothing()


class RatingState(NamedTuple):
    """A contract and the stored counters its rating can see (missing keys hold their initial value).

    ``counters`` holds the contract's own counters, its activations', the shared counters of
    its plans' namespaces and, for a linked contract, the contract counters of ``parent``, each
    in its own unit; ``lives`` says when each stored value's period started and when it lapses.

    An immutable typed record made as a named tuple, not a dataclass: a caller makes one for every item it rates,
    and a tuple is the cheapest immutable value to make (see ``docs/performance.md``). Change one with ``_replace``.
    """

    contract: Contract
    counters: Mapping[CounterKey, ExactInput]
    lives: Mapping[CounterKey, CounterLife] = NOTHING
    parent: Contract | None = None
    session_moves: Mapping[CounterKey, ExactInput] = NOTHING
    """How much the session being rated has already moved its transient counters (empty outside a session)."""
    held: Mapping[CounterKey, CounterHold] = NOTHING
    """What the live grants of sessions hold of the counters (all but the grant of the session being rated): an
    overlay on ``counters``, which keep the stored values. Rating prices on top of it, so no item uses the free units
    a grant was priced with; the counter changes it gives are of the stored values."""

    def after(self, changes: Iterable[CounterChange]) -> RatingState:
        """This state once ``changes`` are stored (transient counters excepted: they are never stored;
        a session keeps their moves in its impacts and passes them back as ``session_moves``)."""
        stored = [change for change in changes if change.key.scope is not CounterScope.TRANSIENT]
        counters = {**self.counters, **{change.key: change.after for change in stored}}
        lives = {**self.lives, **{change.key: CounterLife(change.period_start, change.expires_at) for change in stored}}
        return RatingState(self.contract, counters, lives, self.parent, self.session_moves, self.held)

    def held_in(self, key: CounterKey, period_start: datetime | None) -> Exact:
        """What others hold of ``key`` in the period starting at ``period_start``."""
        hold = self.held.get(key)
        return exact(hold.delta) if hold is not None and hold.period_start == period_start else 0
