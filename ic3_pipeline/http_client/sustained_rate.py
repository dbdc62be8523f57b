"""A lower bound of a server's sustained request rate, from the moments its token bucket was seen empty.

Why a lower bound: a 429 says the server's bucket held less than one token when that request arrived. Whatever its
size, from then on the bucket can hand out at most its refill rate R per second plus that last fraction of a token, so
the requests it accepted that were sent after a refused one, counted over the span since, give R from below:
``(accepted - 1) / span <= R``. A rate measured over a window before a 429 includes whatever the bucket had banked (its
burst), which is how a full bucket of R tokens once made a sync store 25 req/s for an API that allows 20. The bound is
tight while the client kept the bucket near empty (sending at or above R); pauses and idling only make it lower, never
higher, so the limit stored for later syncs is never above the API's own.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass


@dataclass(frozen=True)
class ProvenRate:
    """``lower`` req/s is proven; ``upper`` is the most the same span allows, had the bucket refilled to the brim during
    every pause in it (what a pause lets the bucket bank may be lost to its capacity): the truth lies in between."""

    lower: float
    upper: float


class SustainedRateBound:
    """Accepted sends counted between the moments the server's bucket was seen empty; the best bound they prove.

    ``on_empty(sent_at)`` for a request answered 429, ``on_accepted(sent_at)`` for one the server accepted; times are
    the send times (the limiter's grant times), so answers that come back late are still counted where they belong.
    """

    MIN_SPAN_S = 0.3  # a bound is judged over at least this long ...
    MIN_ACCEPTED = 6  # ... and this many accepted sends (fewer would prove too little to be worth keeping)
    STORED_MIN_SPAN_S = 1.0  # a bound stored for later syncs: over at least this long (a few ms of timing noise
    STORED_MIN_ACCEPTED = 10  # between sending and arriving weigh little) and this many accepted sends
    MAX_MARKS = 64  # empty moments kept (the oldest are forgotten: a long sync keeps its recent history)

    def __init__(self) -> None:
        self._empty_at: list[float] = []  # send times of refused requests, ascending
        self._accepted: list[int] = []  # _accepted[i]: accepted sends in [_empty_at[i], _empty_at[i + 1])
        self._last_accepted_at = -math.inf
        self._pauses: list[tuple[float, float]] = []  # (start, end), ascending and disjoint
        self._paused_until: list[float] = [0.0]  # _paused_until[i]: seconds paused within _pauses[:i]

    def on_empty(self, sent_at: float) -> None:
        """A request sent at ``sent_at`` was refused: the bucket was empty then. Out-of-order marks add nothing."""
        if self._empty_at and sent_at <= self._empty_at[-1]:
            return
        self._empty_at.append(sent_at)
        self._accepted.append(0)
        if len(self._empty_at) > self.MAX_MARKS:
            del self._empty_at[0], self._accepted[0]

    def on_accepted(self, sent_at: float) -> None:
        """A request sent at ``sent_at`` was accepted."""
        index = bisect_right(self._empty_at, sent_at) - 1
        if index >= 0:
            self._accepted[index] += 1
            self._last_accepted_at = max(self._last_accepted_at, sent_at)

    def on_pause(self, start: float, end: float) -> None:
        """Nothing was sent from ``start`` to ``end`` (a Retry-After): the bucket may have overflowed meanwhile."""
        if self._pauses and start <= self._pauses[-1][1]:
            first, last = self._pauses[-1]
            self._pauses[-1] = (first, max(last, end))
            self._paused_until[-1] = self._paused_until[-2] + self._pauses[-1][1] - first
            return
        self._pauses.append((start, end))
        self._paused_until.append(self._paused_until[-1] + end - start)

    def _paused_before(self, moment: float) -> float:
        index = bisect_right(self._pauses, (moment, math.inf))
        if index == 0:
            return 0.0
        start, end = self._pauses[index - 1]
        return self._paused_until[index - 1] + min(moment, end) - start

    @property
    def marks(self) -> int:
        """How many empty moments are known (each 429 episode adds one)."""
        return len(self._empty_at)

    def bound(self) -> float | None:
        """The highest rate (req/s) the server is proven to sustain over spans long enough to be stored, or None."""
        proven = self.proven(min_span_s=self.STORED_MIN_SPAN_S, min_accepted=self.STORED_MIN_ACCEPTED)
        return proven.lower if proven else None

    def proven(self, *, min_span_s: float | None = None, min_accepted: int | None = None) -> ProvenRate | None:
        """The best lower bound and the upper bound of its span, or None while nothing proves enough.

        Every span from an empty moment to a later one, or to the last accepted send, is a candidate; each gives a
        lower bound, so the best of them is one too.
        """
        min_span_s = self.MIN_SPAN_S if min_span_s is None else min_span_s
        min_accepted = self.MIN_ACCEPTED if min_accepted is None else min_accepted
        best: ProvenRate | None = None
        marks = len(self._empty_at)
        for start in range(marks):
            accepted = 0
            for end in range(start + 1, marks + 1):
                accepted += self._accepted[end - 1]
                # (answers still on their way would make a span ending later than the last one back look slower)
                until = min(self._empty_at[end], self._last_accepted_at) if end < marks else self._last_accepted_at
                span = until - self._empty_at[start]
                if span >= min_span_s and accepted >= min_accepted:
                    lower = (accepted - 1) / span
                    if best is None or lower > best.lower:
                        sending = span - (self._paused_before(until) - self._paused_before(self._empty_at[start]))
                        best = ProvenRate(lower, (accepted + 1) / max(sending, 1e-3))
        return best
