"""A change field carries the high-water mark whatever form the API writes it in: ISO 8601, OData V2 ``/Date(ms)/``
with or without an offset, epoch seconds or milliseconds (numbers or digits)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from ic3_pipeline.sync.change_values import change_instant

INSTANT = datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)


@pytest.mark.parametrize("value", ["/Date(1700000000000)/", "/Date(1700000000000+0100)/", "/Date(1700000000000-0500)/",
                                   1700000000000, 1700000000, "1700000000000", "2023-11-14T22:13:20Z",
                                   "2023-11-14T23:13:20+01:00", "2023-11-14 22:13:20", INSTANT])
def test_every_form_is_the_same_instant(value):
    assert change_instant(value) == INSTANT


@pytest.mark.parametrize("value", ["yesterday", "/Date(abc)/", "", 10 ** 30])
def test_anything_else_is_a_value_error(value):
    with pytest.raises(ValueError):
        change_instant(value)
