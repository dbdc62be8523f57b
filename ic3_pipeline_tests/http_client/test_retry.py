"""Retry-After parsing and which HTTP statuses are worth another attempt."""

from __future__ import annotations

import email.utils
from datetime import datetime, timedelta, timezone

import pytest

from ic3_pipeline.http_client import HttpCallFailed, RetryableResponse, is_retryable_status, parse_retry_after

NOW = datetime(2026, 3, 19, 4, 21, 46, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("120", 120.0), (" 3 ", 3.0), ("0", 0.0), ("1.5", 1.5), ("0.25", 0.25)],
)
def test_retry_after_in_seconds(value: str, expected: float) -> None:
    assert parse_retry_after(value, now=NOW) == expected


def test_retry_after_as_http_date() -> None:
    in_30_s = email.utils.format_datetime(NOW + timedelta(seconds=30), usegmt=True)  # "Thu, 19 Mar 2026 04:22:16 GMT"
    assert parse_retry_after(in_30_s, now=NOW) == pytest.approx(30.0)
    assert parse_retry_after("Thu, 19 Mar 2026 04:22:16 -0000", now=NOW) == pytest.approx(30.0)


def test_retry_after_naive_now_is_taken_as_utc() -> None:
    in_10_s = email.utils.format_datetime(NOW + timedelta(seconds=10), usegmt=True)
    assert parse_retry_after(in_10_s, now=NOW.replace(tzinfo=None)) == pytest.approx(10.0)


def test_retry_after_date_in_the_past_means_now() -> None:
    an_hour_ago = email.utils.format_datetime(NOW - timedelta(hours=1), usegmt=True)
    assert parse_retry_after(an_hour_ago, now=NOW) == 0.0


def test_retry_after_without_now_uses_the_clock() -> None:
    soon = email.utils.format_datetime(datetime.now(timezone.utc) + timedelta(seconds=60), usegmt=True)
    assert 50.0 < parse_retry_after(soon) <= 60.0  # type: ignore[operator]


@pytest.mark.parametrize("value", [None, "", "   ", "soon", "-5", "nan", "inf", "1 2", "Thu, 99 Foo 2026", "3s"])
def test_retry_after_garbage_is_none(value: str | None) -> None:
    assert parse_retry_after(value, now=NOW) is None


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 599])
def test_retryable_statuses(status: int) -> None:
    assert is_retryable_status(status)


@pytest.mark.parametrize("status", [200, 201, 204, 301, 304, 400, 401, 403, 404, 409, 422, 428, 430, 499, 600])
def test_final_statuses(status: int) -> None:
    assert not is_retryable_status(status)


def test_exceptions_carry_their_fields() -> None:
    failed = HttpCallFailed("HTTP 503 after 6 attempts", status=503, attempts=6)
    assert (str(failed), failed.reason) == ("HTTP 503 after 6 attempts", "HTTP 503 after 6 attempts")
    assert (failed.status, failed.attempts) == (503, 6)
    assert "503" in repr(failed)
    assert RetryableResponse("status:false").reason == "status:false"
