"""Reading a record's change field as an instant, whatever form the API writes it in.

The high-water mark is the largest change value committed. APIs write that value as an ISO 8601 instant, as OData
V2's ``/Date(ms)/`` or ``/Date(ms+0100)/``, or as epoch seconds or milliseconds; each becomes the same UTC instant
here, so any of them can carry a mark (the presets' YAML files say which form each API uses).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from ic3_pipeline.warehouse.stream_tables import parse_datetime

_ODATA_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
_EPOCH_MS_FROM = 100_000_000_000  # a number above this is milliseconds (year 5138 in seconds)


def change_instant(value: Any) -> datetime:
    """``value`` as a UTC instant; ValueError when it is none of the known forms.

    OData's ``/Date(ms+hhmm)/`` counts milliseconds since the epoch in UTC; the offset only says which zone the
    value was entered in, so it does not move the instant."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _epoch(value / 1000 if abs(value) >= _EPOCH_MS_FROM else value)
    text = str(value).strip()
    odata = _ODATA_DATE.match(text)
    if odata:
        return _epoch(int(odata.group(1)) / 1000)
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return change_instant(float(text))
    return parse_datetime(text)


def _epoch(seconds: float) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, timezone.utc)
    except (OverflowError, OSError) as error:  # far outside the calendar
        raise ValueError(f"{seconds} s is not an instant: {error}") from None
