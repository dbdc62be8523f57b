"""The proven sustained rate: what a token bucket accepted after it was seen empty, never more than its refill rate."""

from __future__ import annotations

import pytest

from ic3_pipeline.http_client.sustained_rate import SustainedRateBound


class Bucket:
    """A token bucket on explicit time: ``rate`` tokens/s, ``capacity`` at most, full at the start."""

    def __init__(self, rate: float, capacity: float) -> None:
        self.rate, self.capacity, self.tokens, self.at = rate, capacity, capacity, 0.0

    def admit(self, now: float) -> bool:
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0 - 1e-9:  # (float sums of fractions of a token)
            self.tokens -= 1.0
            return True
        return False


def send_evenly(bound: SustainedRateBound, bucket: Bucket, rate: float, start: float, end: float) -> float:
    """Send at ``rate`` from ``start`` to ``end``, telling the bound every answer; return when it stopped."""
    now = start
    while now < end:
        if bucket.admit(now):
            bound.on_accepted(now)
        else:
            bound.on_empty(now)
        now += 1.0 / rate
    return now


@pytest.mark.parametrize("capacity", [2.0, 20.0, 100.0])
def test_the_bound_is_the_refill_rate_whatever_the_bucket_holds(capacity: float) -> None:
    """Sending 50 % above a 20/s bucket for 30 s: whatever its size, the proven rate is 20/s from below - the
    window before the first 429 (which includes what the bucket had banked) never counts."""
    bound, bucket = SustainedRateBound(), Bucket(20.0, capacity)
    send_evenly(bound, bucket, 30.0, 0.0, 30.0)
    proven = bound.bound()
    assert proven is not None
    assert 0.95 * 20.0 <= proven <= 20.0


def test_a_bucket_of_one_fed_too_fast_accepts_less_than_its_rate_and_the_bound_says_so() -> None:
    """A bucket holding one token, offered 30/s at 20/s: a refused request leaves the bucket full, the next one
    takes the token, so only every other request passes. The bound is what it really accepted, well under 20/s."""
    bound, bucket = SustainedRateBound(), Bucket(20.0, 1.0)
    send_evenly(bound, bucket, 30.0, 0.0, 30.0)
    assert bound.bound() == pytest.approx(15.0, rel=0.02)


def test_nothing_is_proven_without_a_429_or_over_too_short_a_span() -> None:
    bound, bucket = SustainedRateBound(), Bucket(20.0, 1000.0)
    send_evenly(bound, bucket, 30.0, 0.0, 10.0)  # the bucket never ran empty
    assert bound.bound() is None and bound.marks == 0
    bound.on_empty(10.0)
    for i in range(5):
        bound.on_accepted(10.1 + i * 0.05)
    assert bound.bound() is None  # 5 answers over 0.3 s prove too little to store


def test_idling_and_pauses_only_lower_the_bound() -> None:
    """After a 429 the client sends at 10/s for 10 s (the bucket refills and overflows): 10/s is proven, not 20."""
    bound, bucket = SustainedRateBound(), Bucket(20.0, 20.0)
    end = send_evenly(bound, bucket, 40.0, 0.0, 3.0)
    send_evenly(bound, bucket, 10.0, end, end + 10.0)
    proven = bound.proven()
    assert proven is not None and proven.lower <= 20.0


def test_a_pause_inside_the_span_widens_the_upper_bound() -> None:
    bound = SustainedRateBound()
    bound.on_empty(0.0)
    bound.on_pause(0.0, 2.0)
    for i in range(40):
        bound.on_accepted(2.0 + i * 0.05)
    proven = bound.proven()
    assert proven is not None
    assert proven.lower == pytest.approx(39 / 3.95)  # over the whole span, pause included
    assert proven.upper == pytest.approx(41 / 1.95)  # over the time it was sending


def test_late_answers_are_counted_where_they_were_sent() -> None:
    """A success answered after a later 429 belongs to the span in which it was sent."""
    bound = SustainedRateBound()
    bound.on_empty(0.0)
    for i in range(1, 41):
        bound.on_accepted(i * 0.05)
    bound.on_empty(2.05)
    bound.on_accepted(2.0)  # sent before the second 429, answered after it
    assert bound.bound() == pytest.approx(40 / 2.0)
