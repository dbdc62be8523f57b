"""Client-side pacing that finds and tracks a server's unknown request-rate limit from its HTTP 429 answers."""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable

from ic3_pipeline.http_client.sustained_rate import ProvenRate, SustainedRateBound

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[object]]


class AdaptiveRateLimiter:
    """Paces sends evenly at a rate that settles just under the server's limit.

    Pure AIMD (halve on 429, creep back up) averages ~0.75 x the limit; this stays within a few per cent of it:

    - Pacing: sends are at least ``1 / rate`` apart, judged when the slot comes (so a changed rate or a new pause
      applies at once). An idle limiter banks no credit, so there are never bursts - bursts are what empty a
      server's token bucket and cause 429s near the limit.
    - Slow start: until the first 429 the rate doubles per second, so a too-low ``initial_rate`` costs seconds.
      A limit learned by an earlier sync (``known_limit``) skips it: the rate starts just under that limit.
    - Measured cut: a 429 means the server's token bucket is empty, so what it accepted in the second or two
      before the refused request is its limit (plus at most its burst spread over the window). The rate is cut to
      0.95 x that measured limit, which becomes the ceiling - one episode lands next to the limit wherever the rate
      was. Only when too little was sent to measure (just after a start or a pause) does a fixed share apply: the
      first 429 halves the rate (slow start has overshot by then), later ones cut it to 0.9 x.
      429s within max(1 s, 4 send intervals) of a cut, or during a pause, are the same overload episode: one cut.
      A ``Retry-After`` pauses every sender until it has passed.
    - Far above the limit (a limit that dropped, a token bucket refilled during a pause hiding the overload) 0.9 x
      is not enough: a 429 well below the last ceiling cuts to 0.7 x, and when the goodput measured since the last
      cut is far below the rate, the rate drops to 0.9 x that goodput.
    - Probe: after a cut the rate closes a quarter of its gap to 0.95 x the ceiling per second (so deep cuts cost
      little), then creeps up by 0.1 % of the ceiling per second (slower below 20 req/s, so that episodes stay rare
      counted in requests too), quadratically faster the further it gets, in case the server's limit rose. Each 429
      episode thus buys some 20-40 s at 0.9-1.0 x the limit.
    - The rate grows only while the limiter is the bottleneck (it granted most of its rate lately); a sync bounded
      by its concurrency would otherwise inflate the rate to ``max_rate`` and overrun the server once demand rises.
    - Proven limit: what the server accepted since its bucket was seen empty (a 429) is a lower bound of its
      sustained rate, whatever its burst (``SustainedRateBound``). Once one is proven, every cut keeps the ceiling
      between it and ``PROVEN_HEADROOM`` x it, and the rate at least ``MEASURED_BACKOFF`` x it: a big bucket no
      longer inflates the ceiling (the windows before a 429 include what the bucket had banked), and a deep cut no
      longer sinks the rate below what the server is known to sustain. ``learned_limit`` - what a sync stores for
      the next one - is that bound, never the ceiling, so it is never above the API's real limit.
    - Declared limit: an API that states its policy in ``RateLimit-*`` headers needs no guessing; the rate goes to
      ``DECLARED_SHARE`` x the declared rate at once and never probes past it.

    asyncio-safe on one event loop. ``clock`` and ``sleep`` are injectable so tests can run it on virtual time.
    """

    SLOW_START_PER_S = 2.0  # growth factor per second until the first 429 ...
    SLOW_START_EXIT = 0.5  # ... which cuts the rate to this share
    BLIND_429S_IN_SLOW_START = 2  # this many 429s with too few sends to measure cut the rate but keep slow start
    BACKOFF = 0.9  # share of the rate a later 429 episode cuts to ...
    DEEP_BACKOFF = 0.7  # ... or this share, when it happened below ...
    REPEAT_SHARE = 0.92  # ... this share of the last ceiling: the last cut was too shallow
    COALESCE_MIN_S = 1.0  # 429s this soon after a cut (or 4 send intervals, if longer) are the same episode
    COALESCE_INTERVALS = 4.0
    OVERSHOOT = 0.8  # goodput since the last cut below this share of the rate, ...
    OVERSHOOT_OK_SHARE = 0.9  # ... with fewer successes than this share of the answers = far above the limit
    OVERSHOOT_MIN_OK = 10  # (judged on at least this many successes ...
    OVERSHOOT_MIN_S = 1.0  # ... and seconds of sending): the goodput is then a floor for the limit ...
    GOODPUT_HEADROOM = 1.25  # ... and the ceiling is put this much above it (undershooting would never show)
    TARGET = 0.95  # share of the ceiling the rate returns to quickly ...
    APPROACH_PER_S = 0.25  # ... closing this share of the remaining gap per second
    PROBE_PER_S = 0.001  # past the target: creep up by this share of the ceiling per second ...
    PROBE_SPAN = 0.1  # ... times (1 + distance past the target / (this x ceiling))^2 ...
    PROBE_FULL_RATE = 20.0  # ... and proportionally slower below this rate (req/s)
    MEASURE_WINDOW_S = 2.0  # a 429 is judged by the sends of this long before the refused one ...
    MEASURE_WINDOW_SLOW_START_S = 0.7  # ... or this long while slow start doubles the rate ...
    MEASURE_HISTORY_S = 5.0  # ... (grants are kept this much longer: answers come back late) ...
    MEASURE_MIN_S = 0.3  # ... over at least this span ...
    MEASURE_MIN_SENDS = 5  # ... and this many sends, else the cut is a fixed share of the rate
    MEASURED_BACKOFF = 0.95  # share of the measured limit the rate is cut to
    WINDOW_S = 1.0  # "bottleneck" is judged over max(this, 10 send intervals)
    BUSY_SHARE = 0.6  # the limiter is the bottleneck when it granted this share of its rate over the window
    PROVEN_HEADROOM = 1.04  # a cut puts the ceiling at most this far above the proven sustained rate
    TIGHT_SPREAD = 1.5  # a cut caps the ceiling by the proven rate only when its upper bound is within this factor
    UNCERTAIN_SHARE = 0.25  # ... or this share of the way to the upper bound, when pauses leave it loose ...
    UNCERTAIN_HEADROOM = 1.25  # ... but at most this far above it
    PROVEN_REFRESH_S = 0.25  # the proven rate is recomputed this often as answers come in
    DECLARED_SHARE = 0.98  # share of a declared (RateLimit-* header) limit the rate goes to, and never exceeds

    def __init__(
        self,
        initial_rate: float,
        *,
        min_rate: float = 0.2,
        max_rate: float = 1000.0,
        known_limit: float | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not 0 < min_rate <= max_rate:
            raise ValueError(f"need 0 < min_rate <= max_rate, got {min_rate} and {max_rate}")
        if not initial_rate > 0:
            raise ValueError(f"initial_rate must be positive, got {initial_rate}")
        self._min_rate = min_rate
        self._max_rate = max_rate
        self._clock = clock
        self._sleep = sleep
        self._declared: float | None = None  # req/s the server says it allows (RateLimit-* headers)
        self._rate = self._clamp(initial_rate)
        self._ceiling: float | None = None
        self._closest_rate: float | None = None  # sends never closer than 1 / this (or the rate, if faster)
        if known_limit is not None and known_limit > 0:  # learned by an earlier sync: no slow start
            self._ceiling = self.PROVEN_HEADROOM * known_limit  # (a proven rate: the limit is at least that)
            self._closest_rate = known_limit
            self._rate = self._clamp(self.TARGET * known_limit)
        self._lock = asyncio.Lock()  # FIFO: one sender at a time waits for the next slot
        self._started_at = self._last_growth_at = clock()
        self._last_slot = -math.inf
        self._paused_until = self._resumed_at = -math.inf
        self._last_cut_at = -math.inf
        self._slots: deque[float] = deque()  # grant times within WINDOW_S: is the limiter the bottleneck?
        self._grants: deque[float] = deque()  # grant times of the last few seconds: what did the server accept?
        self._ok_since_cut = 0  # answers since the last cut (or the start): what the server really accepted
        self._throttled_since_cut = 0
        self._paused_since_cut = 0.0  # seconds of pause since the last cut
        self._blind_429s = 0  # 429s in slow start with too few sends to measure anything
        self._bound = SustainedRateBound()  # the sustained rate the server has proven, from its 429s
        self._proven_rate: ProvenRate | None = None
        self._proven_at = -math.inf

    @property
    def rate(self) -> float:
        """Current pacing rate, requests per second."""
        return self._rate

    @property
    def ceiling(self) -> float | None:
        """Where the last 429 episode put the server's limit (the ``known_limit`` until then; None without one)."""
        return self._ceiling

    @property
    def learned_limit(self) -> float | None:
        """The server's sustained rate as far as this limiter knows it, for later syncs to start from; None if unknown.

        The declared limit if the server stated one, else the rate it proved to sustain after its bucket ran empty
        (a lower bound, never inflated by the bucket's burst). Not the ceiling: that one may sit a few per cent
        above the limit while probing, and a later sync starting above the limit would only draw 429s.
        """
        return self._declared if self._declared is not None else self._bound.bound()

    def on_declared_limit(self, limit: float) -> None:
        """The server stated its sustained rate (req/s): pace just under it at once, and never past it."""
        if not limit > 0 or limit == self._declared:
            return
        self._declared = limit
        self._ceiling = self._closest_rate = limit
        self._rate = self._clamp(self.DECLARED_SHARE * limit)

    def pause(self, seconds: float) -> None:
        """Hold every sender back for ``seconds`` (the server said its quota is used up until then)."""
        now = self._clock()
        if seconds > 0 and now + seconds > self._paused_until:
            self._bound.on_pause(max(now, self._paused_until), now + seconds)
            self._paused_since_cut += now + seconds - max(now, self._paused_until)
            self._paused_until = self._resumed_at = now + seconds

    async def acquire(self) -> float:
        """Wait for the next send slot: ``1 / rate`` after the previous one and not before a pause has ended.

        Returns the slot's time; handing it back to :meth:`on_throttled` lets a 429 be judged by what was sent
        before the rejected request (see :meth:`_measured_limit`).
        """
        async with self._lock:
            while True:
                now = self._clock()
                interval = 1.0 / self._rate
                slot = max(self._last_slot + interval, self._paused_until)
                if slot <= now:
                    break
                await self._sleep(slot - now)  # then look again: the rate or the pause may have changed meanwhile
            self._last_slot = self._next_grid_point(slot, now, interval)
            self._slots.append(now)
            self._grants.append(now)
            while self._grants and self._grants[0] < now - self.MEASURE_WINDOW_S - self.MEASURE_HISTORY_S:
                self._grants.popleft()
            self._recent(self._slots, now)
            return now

    def _next_grid_point(self, slot: float, now: float, interval: float) -> float:
        """Where the interval to the next send counts from, for a send due at ``slot`` and going out at ``now``.

        Woken a little late, stay on the grid, or event-loop lag would add to every interval - but never so far that
        the next send comes sooner than 1 / ceiling after this one: a server whose bucket holds a single request
        refuses two sends closer than its own interval. Idle (a whole interval late): no credit at all.
        """
        if now - slot >= interval:
            return now
        closest = 1.0 / max(self._closest_rate, self._rate) if self._closest_rate else 0.0
        return max(slot, now - interval + closest)

    def on_success(self, sent_at: float | None = None) -> None:
        """A non-429 answer: let the rate grow with the time since the previous one.

        ``sent_at`` is what :meth:`acquire` returned for the request: it counts towards the proven sustained rate.
        """
        now = self._clock()
        self._ok_since_cut += 1
        if sent_at is not None:
            self._bound.on_accepted(sent_at)
            self._hold_to_proven_between_cuts(now)
        elapsed = min(now - self._last_growth_at, 1.0)
        self._last_growth_at = now
        if now < self._paused_until or not self._is_bottleneck(now):
            return
        if self._ceiling is None:
            self._rate *= self.SLOW_START_PER_S**elapsed
        elif self._declared is not None:
            self._rate = max(self._rate, self.DECLARED_SHARE * self._declared)
        else:
            target = self.TARGET * self._ceiling
            if self._rate < target:
                speed = max(self.APPROACH_PER_S * (target - self._rate), self.PROBE_PER_S * self._ceiling)
            else:
                beyond = (self._rate - target) / (self.PROBE_SPAN * self._ceiling)
                slowdown = min(1.0, self._rate / self.PROBE_FULL_RATE)  # rarer episodes, counted in requests
                speed = self.PROBE_PER_S * self._ceiling * (1.0 + beyond) ** 2 * slowdown
            self._rate += speed * elapsed
        self._rate = self._clamp(self._rate)

    def on_throttled(self, retry_after_s: float | None = None, sent_at: float | None = None) -> None:
        """A 429 answer: cut the rate once per overload episode and, given a Retry-After, pause every sender.

        ``sent_at`` is what :meth:`acquire` returned for the rejected request; with it the cut lands on the rate
        the server was measured to accept rather than on a fixed share of the current rate.
        """
        now = self._clock()
        self._throttled_since_cut += 1
        if sent_at is not None:
            self._bound.on_empty(sent_at)
        episode = self._episode(now, sent_at)
        if episode is not None:
            goodput = self._goodput_if_far_above(now)
            measured = self._measured_limit(sent_at)
            if measured is not None and goodput is None:
                # The server's limit, measured: cut to just under it (never above the rate that was refused).
                self._ceiling = min(self._rate, measured)
                self._rate = self.MEASURED_BACKOFF * self._ceiling
            elif goodput is not None:
                # Far above the limit, the goodput is a floor for it: resume just under it, and aim the probe a
                # little above it - overshooting soon shows in a 429, undershooting would never show at all.
                self._ceiling = goodput * self.GOODPUT_HEADROOM
                self._rate = goodput * self.BACKOFF
            elif self._ceiling is None and sent_at is not None and self._blind_429s < self.BLIND_429S_IN_SLOW_START:
                # Too few sends to tell anything, still in slow start: one request that arrived on the heels of
                # another (a new connection's setup delays the first; a bucket of one refuses the pair). Fixing a
                # ceiling this low would hold the whole sync there: slow down, but keep looking for the limit.
                self._blind_429s += 1
                self._rate *= self.SLOW_START_EXIT
            else:
                factor = self._cut_factor()
                self._ceiling = self._rate
                self._rate *= factor
            self._hold_to_proven(cap=episode == "above proven")
            self._closest_rate = self._ceiling if self._ceiling is not None else None
            self._rate = self._clamp(self._rate)
            self._last_cut_at = now
            self._ok_since_cut = self._throttled_since_cut = 0
            self._paused_since_cut = 0.0
        if retry_after_s is not None:
            self.pause(retry_after_s)

    def _episode(self, now: float, sent_at: float | None) -> str | None:
        """Whether a 429 starts a new overload episode (a cut): "new", "above proven", or None for one of the last
        cut's - within max(1 s, 4 send intervals) of it, or during a pause. "above proven": it was sent after the cut
        at a rate still above what the server has proven since (no Retry-After held the senders back); waiting out
        the window would only collect more refusals, and a cut to the proven rate cannot cascade below it."""
        if now < self._paused_until:
            return None
        proven = self._proven(now, refresh=True)
        if proven is not None and self._rate <= proven.lower and self._declared is None:
            return None  # slower than the server has proven to sustain: a send that arrived early (jitter), no overload
        if now - self._last_cut_at >= max(self.COALESCE_MIN_S, self.COALESCE_INTERVALS / self._rate):
            return "new"
        if sent_at is None or sent_at <= self._last_cut_at:
            return None
        if proven is not None and self._rate > self.TARGET * self._proven_ceiling(proven):
            return "above proven"
        return None

    def _hold_to_proven_between_cuts(self, now: float) -> None:
        """Answers to sends made just before a cut come back after it: the bound they prove may rise above the
        ceiling the cut set (judged early, on too few answers). The server has sustained that rate: raise to it."""
        proven = self._proven(now)
        if proven is None or self._ceiling is None or self._declared is not None:
            return
        self._ceiling = max(self._ceiling, self._proven_ceiling(proven))

    def _hold_to_proven(self, *, cap: bool = False) -> None:
        """After a cut: keep the ceiling at or above the proven sustained rate (at the declared rate, if any) and the
        rate at no less than ``MEASURED_BACKOFF`` x the proven rate. ``cap``: the rate was refused while above what
        is proven: put the ceiling where the proven rate says (``_proven_ceiling``) and the rate at its target."""
        if self._declared is not None:
            self._ceiling = min(self._ceiling or self._declared, self._declared)
            return
        proven = self._proven(self._clock(), refresh=True)
        if proven is None or self._ceiling is None:
            return
        self._ceiling = max(self._ceiling, proven.lower)
        if cap:
            self._ceiling = min(self._ceiling, self._proven_ceiling(proven))
            self._rate = min(self._rate, self.TARGET * self._ceiling)
        self._rate = max(self._rate, self.MEASURED_BACKOFF * proven.lower)

    def _proven_ceiling(self, proven: ProvenRate) -> float:
        """Where to look for the limit given what is proven: ``PROVEN_HEADROOM`` above the proven rate when that is
        tight, further (``UNCERTAIN_SHARE`` of the way to the upper bound, at most ``UNCERTAIN_HEADROOM`` x) when
        pauses leave it loose - or the sync would settle under the limit with nothing to tell it so."""
        reach = min(proven.lower + self.UNCERTAIN_SHARE * (proven.upper - proven.lower),
                    self.UNCERTAIN_HEADROOM * proven.lower)
        return max(self.PROVEN_HEADROOM * proven.lower, reach)

    def _proven(self, now: float, *, refresh: bool = False) -> ProvenRate | None:
        """The proven sustained rate, recomputed at most every ``PROVEN_REFRESH_S`` unless ``refresh``."""
        if refresh or now - self._proven_at >= self.PROVEN_REFRESH_S:
            self._proven_rate = self._bound.proven()
            self._proven_at = now
        return self._proven_rate

    def _measured_limit(self, sent_at: float | None) -> float | None:
        """The rate the server accepted just before it refused the request sent at ``sent_at``, or None.

        A token bucket refuses once it is empty; what it let through in the window before that is its rate plus at
        most its burst over the window, less what it could not bank while we sent below its rate. Sends since the
        last pause ended only (a pause refills the bucket and sends nothing). The window is short while slow start
        still doubles the rate (older sends were far below the limit) and longer afterwards (the burst matters less).
        """
        if sent_at is None:
            return None
        window = self.MEASURE_WINDOW_S if self._ceiling is not None else self.MEASURE_WINDOW_SLOW_START_S
        start = max(sent_at - window, self._resumed_at, self._started_at)
        span = sent_at - start
        kept_since = self._clock() - self.MEASURE_WINDOW_S - self.MEASURE_HISTORY_S
        if span < self.MEASURE_MIN_S or start < kept_since:  # too short, or answered so late its sends are forgotten
            return None
        sent = sum(1 for granted in self._grants if start <= granted < sent_at)
        if sent < self.MEASURE_MIN_SENDS:
            return None
        return sent / span

    def _cut_factor(self) -> float:
        if self._ceiling is None:
            return self.SLOW_START_EXIT
        if self._rate < self.REPEAT_SHARE * self._ceiling:
            return self.DEEP_BACKOFF
        return self.BACKOFF

    def _recent(self, times: deque[float], now: float) -> float:
        """Drop grant times older than the window (at least 10 send intervals); return the window's length."""
        window = max(self.WINDOW_S, 10.0 / self._rate)
        while times and times[0] < now - window:
            times.popleft()
        return window

    def _is_bottleneck(self, now: float) -> bool:
        span = min(self._recent(self._slots, now), now - self._started_at)
        return span <= 0 or len(self._slots) >= self.BUSY_SHARE * self._rate * span

    def _goodput_if_far_above(self, now: float) -> float | None:
        """The rate the server accepted since the previous cut, if far below the current rate; else None.

        A 429 means the server's bucket is empty, as it was at the previous cut, so the successes per second of
        sending between two cuts measure its limit (or overstate it, by what a pause let the bucket refill: the safe
        side). Trusted only when 429s were a real share of the answers: a sync that idled also has a low goodput.
        """
        elapsed = now - max(self._last_cut_at, self._started_at) - self._paused_since_cut
        answers = self._ok_since_cut + self._throttled_since_cut
        if elapsed < self.OVERSHOOT_MIN_S or self._ok_since_cut < self.OVERSHOOT_MIN_OK:
            return None
        goodput = self._ok_since_cut / elapsed
        if goodput >= self.OVERSHOOT * self._rate or self._ok_since_cut >= self.OVERSHOOT_OK_SHARE * answers:
            return None
        return max(goodput, self._min_rate)

    def _clamp(self, rate: float) -> float:
        if self._declared is not None:
            rate = min(rate, self.DECLARED_SHARE * self._declared)
        return min(self._max_rate, max(self._min_rate, rate))

    def __repr__(self) -> str:
        return f"AdaptiveRateLimiter(rate={self._rate:.2f}/s, ceiling={self._ceiling})"
