"""Client-side pacing that finds and tracks a server's unknown request-rate limit from its HTTP 429 answers."""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[object]]


class AdaptiveRateLimiter:
    """Paces sends evenly at a rate that settles just under the server's limit.

    Pure AIMD (halve on 429, creep back up) averages ~0.75 x the limit; this stays within a few per cent of it:

    - Pacing: sends are at least ``1 / rate`` apart, judged when the slot comes (so a changed rate or a new pause
      applies at once). An idle limiter banks no credit, so there are never bursts - bursts are what empty a
      server's token bucket and cause 429s near the limit.
    - Slow start: until the first 429 the rate doubles per second, so a too-low ``initial_rate`` costs seconds;
      the first 429 halves it (by the time a 429 comes back, slow start has overshot).
    - Cut: a 429 remembers the rate it happened at as the ceiling and drops to 0.9 x it. 429s within
      max(1 s, 4 send intervals) of a cut, or during a pause, are the same overload episode: one cut.
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

    asyncio-safe on one event loop. ``clock`` and ``sleep`` are injectable so tests can run it on virtual time.
    """

    SLOW_START_PER_S = 2.0  # growth factor per second until the first 429 ...
    SLOW_START_EXIT = 0.5  # ... which cuts the rate to this share
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
    WINDOW_S = 1.0  # "bottleneck" is judged over max(this, 10 send intervals)
    BUSY_SHARE = 0.6  # the limiter is the bottleneck when it granted this share of its rate over the window

    def __init__(
        self,
        initial_rate: float,
        *,
        min_rate: float = 0.2,
        max_rate: float = 1000.0,
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
        self._rate = self._clamp(initial_rate)
        self._ceiling: float | None = None
        self._lock = asyncio.Lock()  # FIFO: one sender at a time waits for the next slot
        self._started_at = self._last_growth_at = clock()
        self._last_slot = -math.inf
        self._paused_until = -math.inf
        self._last_cut_at = -math.inf
        self._slots: deque[float] = deque()  # grant times within WINDOW_S: is the limiter the bottleneck?
        self._ok_since_cut = 0  # answers since the last cut (or the start): what the server really accepted
        self._throttled_since_cut = 0
        self._paused_since_cut = 0.0  # seconds of pause since the last cut

    @property
    def rate(self) -> float:
        """Current pacing rate, requests per second."""
        return self._rate

    @property
    def ceiling(self) -> float | None:
        """Where the last 429 episode put the server's limit (None until the first 429)."""
        return self._ceiling

    async def acquire(self) -> None:
        """Wait for the next send slot: ``1 / rate`` after the previous one and not before a pause has ended."""
        async with self._lock:
            while True:
                now = self._clock()
                interval = 1.0 / self._rate
                slot = max(self._last_slot + interval, self._paused_until)
                if slot <= now:
                    break
                await self._sleep(slot - now)  # then look again: the rate or the pause may have changed meanwhile
            # Woken a little late: stay on the grid, or event-loop lag would add to every interval. Idle: no credit.
            self._last_slot = slot if now - slot < interval else now
            self._slots.append(now)
            self._recent(self._slots, now)

    def on_success(self) -> None:
        """A non-429 answer: let the rate grow with the time since the previous one."""
        now = self._clock()
        self._ok_since_cut += 1
        elapsed = min(now - self._last_growth_at, 1.0)
        self._last_growth_at = now
        if now < self._paused_until or not self._is_bottleneck(now):
            return
        if self._ceiling is None:
            self._rate *= self.SLOW_START_PER_S**elapsed
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

    def on_throttled(self, retry_after_s: float | None = None) -> None:
        """A 429 answer: cut the rate once per overload episode and, given a Retry-After, pause every sender."""
        now = self._clock()
        self._throttled_since_cut += 1
        coalesce_s = max(self.COALESCE_MIN_S, self.COALESCE_INTERVALS / self._rate)
        if now - self._last_cut_at >= coalesce_s and now >= self._paused_until:  # (no sends during a pause)
            goodput = self._goodput_if_far_above(now)
            if goodput is not None:
                # Far above the limit, the goodput is a floor for it: resume just under it, and aim the probe a
                # little above it - overshooting soon shows in a 429, undershooting would never show at all.
                self._ceiling = goodput * self.GOODPUT_HEADROOM
                self._rate = goodput * self.BACKOFF
            else:
                factor = self._cut_factor()
                self._ceiling = self._rate
                self._rate *= factor
            self._rate = self._clamp(self._rate)
            self._last_cut_at = now
            self._ok_since_cut = self._throttled_since_cut = 0
            self._paused_since_cut = 0.0
        if retry_after_s is not None and retry_after_s > 0 and now + retry_after_s > self._paused_until:
            self._paused_since_cut += now + retry_after_s - max(now, self._paused_until)
            self._paused_until = now + retry_after_s

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
        return min(self._max_rate, max(self._min_rate, rate))

    def __repr__(self) -> str:
        return f"AdaptiveRateLimiter(rate={self._rate:.2f}/s, ceiling={self._ceiling})"
