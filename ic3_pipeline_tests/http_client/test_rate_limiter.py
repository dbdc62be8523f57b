"""The adaptive limiter on virtual time: pacing, cuts, coalescing, probing, pauses."""

from __future__ import annotations

import asyncio
import time

import pytest

from ic3_pipeline.http_client import AdaptiveRateLimiter


class FakeTime:
    """A clock that only moves when someone sleeps (or the test advances it)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        self.now += seconds


def limiter(rate: float, clock: FakeTime, **kwargs: float) -> AdaptiveRateLimiter:
    return AdaptiveRateLimiter(rate, clock=clock, sleep=clock.sleep, **kwargs)


def grant_times(lim: AdaptiveRateLimiter, clock: FakeTime, count: int) -> list[float]:
    async def run() -> list[float]:
        times = []
        for _ in range(count):
            await lim.acquire()
            times.append(clock())
        return times

    return asyncio.run(run())


def drive(lim: AdaptiveRateLimiter, clock: FakeTime, seconds: float) -> None:
    """A busy sync with every answer a success: acquire as fast as allowed for ``seconds`` of virtual time."""

    async def run() -> None:
        end = clock() + seconds
        while clock() < end:
            await lim.acquire()
            lim.on_success()

    asyncio.run(run())


def test_slots_are_evenly_spaced() -> None:
    clock = FakeTime()
    lim = limiter(10.0, clock)
    times = grant_times(lim, clock, 5)
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert gaps == pytest.approx([0.1] * 4)


def test_an_idle_limiter_banks_no_burst() -> None:
    clock = FakeTime()
    lim = limiter(10.0, clock)
    grant_times(lim, clock, 2)
    clock.advance(60.0)
    times = grant_times(lim, clock, 3)
    assert times[0] == pytest.approx(clock.now - 0.2)  # the first send after idling goes at once ...
    assert [b - a for a, b in zip(times, times[1:])] == pytest.approx([0.1, 0.1])  # ... the next ones are paced


def test_concurrent_senders_share_the_pace() -> None:
    clock = FakeTime()
    lim = limiter(20.0, clock)

    async def run() -> list[float]:
        times: list[float] = []

        async def sender() -> None:
            for _ in range(5):
                await lim.acquire()
                times.append(clock())

        await asyncio.gather(*(sender() for _ in range(4)))
        return sorted(times)

    times = asyncio.run(run())
    assert len(times) == 20
    assert min(b - a for a, b in zip(times, times[1:])) == pytest.approx(0.05)
    assert times[-1] - times[0] == pytest.approx(19 * 0.05)


def test_the_first_429_ends_slow_start_by_halving() -> None:
    clock = FakeTime()
    lim = limiter(10.0, clock)
    lim.on_throttled(None)
    assert lim.ceiling == 10.0
    assert lim.rate == pytest.approx(5.0)


def test_a_429_near_the_ceiling_cuts_to_nine_tenths_and_remembers_it() -> None:
    clock = FakeTime()
    lim = limiter(10.0, clock)
    lim.on_throttled(None)
    drive(lim, clock, 30.0)  # back up near the ceiling
    before = lim.rate
    assert before > 0.92 * 10.0
    lim.on_throttled(None)
    assert lim.ceiling == before
    assert lim.rate == pytest.approx(0.9 * before)


def test_concurrent_429s_of_one_episode_count_once() -> None:
    clock = FakeTime()
    lim = limiter(50.0, clock)
    for _ in range(16):  # a whole window of in-flight requests answered 429 within 0.3 s
        lim.on_throttled(None)
        clock.advance(0.02)
    assert lim.rate == pytest.approx(25.0)
    clock.advance(1.0)  # a new episode, after the coalescing window: one more cut (deep, as 25 < 0.92 x 50)
    lim.on_throttled(None)
    assert lim.rate == pytest.approx(25.0 * AdaptiveRateLimiter.DEEP_BACKOFF)
    assert lim.rate > 15.0  # nowhere near collapsing to the floor


def test_coalescing_window_grows_at_low_rates() -> None:
    clock = FakeTime()
    lim = limiter(1.0, clock)
    lim.on_throttled(None)
    clock.advance(6.0)  # < 4 send intervals at 0.5 req/s
    lim.on_throttled(None)
    assert lim.rate == pytest.approx(0.5)


def test_no_new_episode_while_paused() -> None:
    clock = FakeTime()
    lim = limiter(10.0, clock)
    lim.on_throttled(5.0)
    clock.advance(2.0)  # past the coalescing window, but nothing was sent since: an old request's answer
    lim.on_throttled(None)
    assert lim.rate == pytest.approx(5.0)


def test_a_429_well_below_the_last_ceiling_cuts_deeper() -> None:
    clock = FakeTime()
    lim = limiter(100.0, clock)
    lim.on_throttled(None)  # ceiling 100, rate 50
    clock.advance(1.5)
    lim.on_throttled(None)  # 429s again at half the ceiling: that cut was too shallow
    assert lim.ceiling == pytest.approx(50.0)
    assert lim.rate == pytest.approx(50.0 * AdaptiveRateLimiter.DEEP_BACKOFF)


def test_far_above_the_limit_the_measured_goodput_sets_the_rate() -> None:
    clock = FakeTime()
    lim = limiter(50.0, clock)
    lim.on_throttled(None)  # rate 25
    for i in range(25):  # one second at 25/s of which the server accepts 10/s
        clock.advance(0.04)
        if i % 5 in (0, 2):
            lim.on_success()
        else:
            lim.on_throttled(None)  # same episode: counted, not cut
    clock.advance(0.01)
    lim.on_throttled(None)
    assert lim.rate == pytest.approx(0.9 * 10.0, rel=0.05)  # 0.9 x the accepted 10/s, not 0.9 or 0.7 x 25
    assert lim.ceiling > 10.0  # aimed a little above the measured floor


def test_a_sync_that_merely_idled_is_not_mistaken_for_overload() -> None:
    clock = FakeTime()
    lim = limiter(50.0, clock)
    lim.on_throttled(None)  # rate 25, ceiling 50
    for _ in range(10):  # then 10 s of trickle: 1 success/s, far below the rate, but no 429s
        clock.advance(1.0)
        lim.on_success()
    lim.on_throttled(None)
    assert lim.rate == pytest.approx(25.0 * AdaptiveRateLimiter.DEEP_BACKOFF)


def test_rate_respects_floor_and_cap() -> None:
    clock = FakeTime()
    lim = limiter(0.3, clock, min_rate=0.25, max_rate=40.0)
    for _ in range(5):
        lim.on_throttled(None)
        clock.advance(100.0)
    assert lim.rate == 0.25
    fast = limiter(1000.0, clock, min_rate=0.25, max_rate=40.0)
    assert fast.rate == 40.0
    with pytest.raises(ValueError):
        AdaptiveRateLimiter(0.0)
    with pytest.raises(ValueError):
        AdaptiveRateLimiter(1.0, min_rate=5.0, max_rate=2.0)


def test_slow_start_doubles_per_second_until_the_first_429() -> None:
    clock = FakeTime()
    lim = limiter(4.0, clock)
    drive(lim, clock, 3.0)
    assert 20.0 < lim.rate < 40.0  # ~4 * 2**3
    assert lim.ceiling is None


def test_no_growth_while_the_limiter_is_not_the_bottleneck() -> None:
    clock = FakeTime()
    lim = limiter(10.0, clock)

    async def trickle() -> None:  # a sync bounded elsewhere (concurrency, latency): 2 sends/s at a 10/s limiter
        for _ in range(20):
            await lim.acquire()
            clock.advance(0.5)
            lim.on_success()

    asyncio.run(trickle())
    assert lim.rate == 10.0


def test_after_a_cut_the_rate_returns_close_to_the_ceiling_then_probes_slowly_past_it() -> None:
    clock = FakeTime()
    lim = limiter(40.0, clock)
    lim.on_throttled(None)
    assert lim.rate == pytest.approx(20.0)
    drive(lim, clock, 15.0)
    assert 0.9 * 40.0 < lim.rate < 0.96 * 40.0  # back near the ceiling within seconds ...
    drive(lim, clock, 20.0)
    assert lim.rate < 40.0  # ... cautious around it ...
    drive(lim, clock, 120.0)
    assert lim.rate > 1.1 * 40.0  # ... and still probing, in case the server's limit rose


def test_retry_after_pauses_every_sender() -> None:
    clock = FakeTime()
    lim = limiter(10.0, clock)
    grant_times(lim, clock, 1)
    start = clock()
    lim.on_throttled(2.0)
    times = grant_times(lim, clock, 3)
    assert times[0] == pytest.approx(start + 2.0)
    assert [b - a for a, b in zip(times, times[1:])] == pytest.approx([1 / 5.0, 1 / 5.0])  # halved: 5/s


def test_a_pause_set_while_senders_wait_holds_them_back() -> None:
    """Real time: senders already waiting for their slot must not go out during a pause that began meanwhile."""
    lim = AdaptiveRateLimiter(20.0)

    async def run() -> list[float]:
        start = time.monotonic()
        times: list[float] = []

        async def sender() -> None:
            await lim.acquire()
            times.append(time.monotonic() - start)

        tasks = [asyncio.create_task(sender()) for _ in range(4)]
        await asyncio.sleep(0.06)  # the first two went at 0 and 0.05 s; the others wait for 0.1 and 0.15 s
        lim.on_throttled(0.3)
        await asyncio.gather(*tasks)
        return sorted(times)

    times = asyncio.run(run())
    assert times[1] < 0.1
    assert times[2] >= 0.06 + 0.3 - 0.01
    assert times[3] >= times[2] + 1 / 10.0 - 0.01  # and at the halved rate


def sent_at_rate(lim: AdaptiveRateLimiter, clock: FakeTime, seconds: float) -> float:
    """Send (and have accepted) at the limiter's pace for ``seconds``; return the last slot's time."""
    last = clock()

    async def run() -> None:
        nonlocal last
        end = clock() + seconds
        while clock() < end:
            last = await lim.acquire()

    asyncio.run(run())
    return last


def test_a_429_cuts_to_just_under_the_rate_the_server_accepted() -> None:
    """What went through before the refused request measures the limit: the first 429 lands next to it (30/s
    sustained, so 0.95 x 30) instead of halving the rate as a blind slow-start exit would."""
    clock = FakeTime()
    lim = limiter(30.0, clock)
    refused = sent_at_rate(lim, clock, 3.0)
    lim.on_throttled(None, sent_at=refused)
    assert lim.ceiling == pytest.approx(30.0, rel=0.05)
    assert lim.rate == pytest.approx(AdaptiveRateLimiter.MEASURED_BACKOFF * 30.0, rel=0.05)


def test_the_measured_cut_judges_by_what_was_sent_not_by_the_rate_now() -> None:
    """Slow start has doubled the rate past what was sent in the window before the refusal: the cut uses the sends
    (a token bucket empties on what it let through), so it lands below the current rate by more than 0.9 x."""
    clock = FakeTime()
    lim = limiter(10.0, clock)
    drive(lim, clock, 2.0)  # slow start: ~40/s now, ~30/s on average over the last 0.7 s
    peak = lim.rate
    refused = clock()
    lim.on_throttled(None, sent_at=refused)
    assert 0.6 * peak < lim.rate < 0.85 * peak
    assert lim.ceiling is not None and lim.ceiling < peak


def test_too_few_sends_to_measure_fall_back_to_the_fixed_cut() -> None:
    clock = FakeTime()
    lim = limiter(10.0, clock)
    refused = sent_at_rate(lim, clock, 0.2)  # 2-3 sends: nothing to measure
    lim.on_throttled(None, sent_at=refused)
    assert lim.rate == pytest.approx(10.0 * AdaptiveRateLimiter.SLOW_START_EXIT)


def test_a_pause_restarts_the_measurement() -> None:
    """A pause refills the server's bucket and sends nothing: sends from before it say nothing about the limit."""
    clock = FakeTime()
    lim = limiter(30.0, clock)
    sent_at_rate(lim, clock, 3.0)
    lim.on_throttled(1.0)  # no sent_at: fixed cut to 15/s and a 1 s pause
    clock.advance(2.0)  # past the pause and the episode's coalescing window
    refused = sent_at_rate(lim, clock, 0.2)  # only ~3 sends since the pause ended
    lim.on_throttled(None, sent_at=refused)
    assert lim.rate == pytest.approx(15.0 * AdaptiveRateLimiter.DEEP_BACKOFF)  # the fixed cut again, not 0.95 x 30


def test_a_known_limit_skips_slow_start() -> None:
    """A limit an earlier sync learned: start just under it and close in on it, instead of doubling from 10/s. It is a
    rate the API was proven to sustain (a lower bound), so the ceiling sits a little above it."""
    clock = FakeTime()
    lim = limiter(10.0, clock, known_limit=40.0)
    assert lim.rate == pytest.approx(AdaptiveRateLimiter.TARGET * 40.0)
    assert lim.ceiling == pytest.approx(AdaptiveRateLimiter.PROVEN_HEADROOM * 40.0)
    drive(lim, clock, 5.0)
    assert 0.96 * 40.0 < lim.rate < 40.0


def test_a_late_send_catches_up_but_never_closer_than_the_limit_allows() -> None:
    """At 4.75/s under a 5/s limit whose bucket holds one request, a send woken 40 ms late must not be followed by one
    only 170 ms later (the grid): that one would be refused. The next waits at least 1 / 5 s; later ones are on time."""
    clock = FakeTime()
    lim = limiter(10.0, clock, known_limit=5.0)  # paces at 4.75/s: 0.2105 s apart
    first = grant_times(lim, clock, 1)[0]
    clock.advance(1 / 4.75 + 0.04)  # the event loop wakes the next sender 40 ms late
    late, following = grant_times(lim, clock, 2)
    assert late == pytest.approx(first + 1 / 4.75 + 0.04)
    assert following - late == pytest.approx(1 / 5.0)  # caught up as far as the server allows, no further


def test_a_late_send_keeps_the_grid_when_there_is_room() -> None:
    """Without a known limit (nothing to overrun yet) a late send keeps the average pace: the next one is on the grid."""
    clock = FakeTime()
    lim = limiter(10.0, clock)
    first = grant_times(lim, clock, 1)[0]
    clock.advance(0.1 + 0.03)
    late, following = grant_times(lim, clock, 2)
    assert following - first == pytest.approx(0.2)


def test_a_429_answered_later_than_the_history_kept_falls_back_to_the_fixed_cut() -> None:
    """A refusal answered after a long hang: half the sends of the window before it are no longer kept, and counting
    what is left would measure half the real limit (and cut to 0.95 x 15). The cut is the fixed share instead."""
    clock = FakeTime()
    lim = limiter(30.0, clock)
    refused = sent_at_rate(lim, clock, 3.0)
    # The 429 arrives ~6.6 s after it was sent: grants older than 7 s are gone, i.e. the first half of its 0.7 s window.
    clock.advance(AdaptiveRateLimiter.MEASURE_HISTORY_S + AdaptiveRateLimiter.MEASURE_WINDOW_S - 0.35 - 0.1)
    sent_at_rate(lim, clock, 0.1)  # meanwhile others were sent, which forgets the old grants
    lim.on_throttled(None, sent_at=refused)
    assert lim.rate == pytest.approx(30.0 * AdaptiveRateLimiter.SLOW_START_EXIT)


def test_the_learned_limit_is_what_the_server_accepted_after_its_bucket_ran_empty() -> None:
    """Before any 429 nothing is learned; after one, the answers to what was sent since prove the sustained rate,
    and that - not the ceiling - is what a later sync is told."""
    clock = FakeTime()
    lim = limiter(30.0, clock, known_limit=25.0)
    assert lim.learned_limit is None
    refused = clock()
    lim.on_throttled(None, sent_at=refused)

    async def run() -> None:
        for i in range(200):  # a server that accepts 2 of every 3 sends: 2/3 of the pace
            sent_at = await lim.acquire()
            if i % 3 == 2:
                lim.on_throttled(None, sent_at=sent_at)
            else:
                lim.on_success(sent_at)

    asyncio.run(run())
    learned = lim.learned_limit
    assert learned is not None
    span = clock() - refused
    assert learned <= 200 * 2 / 3 / span * 1.02


def test_a_429_while_slower_than_the_proven_rate_is_jitter_and_cuts_nothing() -> None:
    """The server accepted 25/s for 6 s after its bucket ran empty: a 429 while pacing at 17/s is a send that
    arrived early (event-loop or network jitter), not overload - it pauses, but cuts nothing."""
    clock = FakeTime()
    lim = limiter(10.0, clock, known_limit=18.0)
    start = clock()
    lim.on_throttled(None, sent_at=start)  # the bucket was empty here
    rate = lim.rate
    for i in range(1, 151):
        lim.on_success(sent_at=start + i * 0.04)
    clock.advance(6.0)
    assert rate < lim.learned_limit <= 25.0
    rate = lim.rate
    lim.on_throttled(1.0, sent_at=clock())
    assert lim.rate == rate


def test_a_declared_limit_sets_the_pace_at_once_and_is_never_passed() -> None:
    clock = FakeTime()
    lim = limiter(10.0, clock)
    lim.on_declared_limit(40.0)
    assert lim.rate == pytest.approx(AdaptiveRateLimiter.DECLARED_SHARE * 40.0)
    assert lim.learned_limit == 40.0
    drive(lim, clock, 10.0)
    assert lim.rate == pytest.approx(AdaptiveRateLimiter.DECLARED_SHARE * 40.0)


def test_a_single_429_after_too_few_sends_keeps_slow_start() -> None:
    """Two requests that reached the server together (a new connection delays the first) say nothing about the
    rate: the rate is cut but no ceiling is fixed, and slow start goes on looking for the limit."""
    clock = FakeTime()
    lim = limiter(10.0, clock)
    sent = grant_times(lim, clock, 2)
    lim.on_throttled(None, sent_at=sent[-1])
    assert lim.ceiling is None and lim.rate == pytest.approx(10.0 * AdaptiveRateLimiter.SLOW_START_EXIT)
    drive(lim, clock, 2.0)
    assert lim.rate > 10.0
