"""Webhook notifications: a failed KPI check or a failed run posted as JSON to ``IC3_ALERT_WEBHOOK_URL``.

Off unless the variable is set. A notification never changes the outcome it reports: a receiver that is down or
answers an error is logged as a warning and the check or sensor goes on (the alert is still in the UI). The URL may
carry a token, so it is read from the environment when a notification is sent and never logged or put in metadata.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import httpx

WEBHOOK_ENV = "IC3_ALERT_WEBHOOK_URL"
TIMEOUT_S = 10.0

log = logging.getLogger(__name__)


def webhook_configured() -> bool:
    return bool(os.environ.get(WEBHOOK_ENV, "").strip())


def post_alert(payload: Mapping[str, Any]) -> bool:
    """POST ``payload`` as JSON to the webhook; True when it answered 2xx, False when off or it failed (logged)."""
    url = os.environ.get(WEBHOOK_ENV, "").strip()
    if not url:
        return False
    try:
        response = httpx.post(url, json=dict(payload), timeout=TIMEOUT_S)
    except httpx.HTTPError as error:
        log.warning("the alert webhook ($%s) could not be reached: %s", WEBHOOK_ENV, type(error).__name__)
        return False
    if not response.is_success:
        log.warning("the alert webhook ($%s) answered HTTP %s", WEBHOOK_ENV, response.status_code)
        return False
    return True
