"""Which notification channels are configured, read from the environment only (secrets never live in YAML or code).

Nothing set means no channel: notifications are off by default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

WEBHOOK_URL = "IC3_NOTIFY_WEBHOOK_URL"
SLACK_TOKEN = "IC3_NOTIFY_SLACK_TOKEN"
SLACK_CHANNEL = "IC3_NOTIFY_SLACK_CHANNEL"
SLACK_BASE_URL = "IC3_NOTIFY_SLACK_BASE_URL"
SMTP_HOST = "IC3_NOTIFY_SMTP_HOST"
SMTP_PORT = "IC3_NOTIFY_SMTP_PORT"
SMTP_USER = "IC3_NOTIFY_SMTP_USER"
SMTP_PASSWORD = "IC3_NOTIFY_SMTP_PASSWORD"
SMTP_FROM = "IC3_NOTIFY_SMTP_FROM"
SMTP_TO = "IC3_NOTIFY_SMTP_TO"
SMTP_STARTTLS = "IC3_NOTIFY_SMTP_STARTTLS"
MIN_SEVERITY = "IC3_NOTIFY_MIN_SEVERITY"
UI_URL = "IC3_UI_URL"
TIMEOUT_S = 10.0

ALL_SETTINGS = (WEBHOOK_URL, SLACK_TOKEN, SLACK_CHANNEL, SLACK_BASE_URL, SMTP_HOST, SMTP_PORT, SMTP_USER,
                SMTP_PASSWORD, SMTP_FROM, SMTP_TO, SMTP_STARTTLS, MIN_SEVERITY, UI_URL)
# Values never to appear in a message, a log line or a tick's skip reason (a webhook URL often embeds its secret).
SECRET_SETTINGS = (WEBHOOK_URL, SLACK_TOKEN, SMTP_PASSWORD)


class NotifySettingsError(ValueError):
    """A channel is half-configured (e.g. a Slack token without a channel): said in the tick rather than ignored."""


@dataclass(frozen=True)
class WebhookSettings:
    url: str = field(repr=False)


@dataclass(frozen=True)
class SlackSettings:
    token: str = field(repr=False)
    channel: str
    base_url: str | None = None  # Slack's own API unless set (tests point it at a local receiver)


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False


@dataclass(frozen=True)
class NotifySettings:
    webhook: WebhookSettings | None = None
    slack: SlackSettings | None = None
    smtp: SmtpSettings | None = None
    min_severity: str = "WARN"  # WARN: every failed check; ERROR: only checks failing with ERROR severity
    ui_url: str | None = None

    @property
    def configured(self) -> bool:
        return any((self.webhook, self.slack, self.smtp))


def notify_settings(env: Mapping[str, str] | None = None) -> NotifySettings:
    """The channels ``env`` (default: the process environment) configures; raises on a half-configured channel."""
    env = os.environ if env is None else env
    get = lambda name: (env.get(name) or "").strip() or None  # noqa: E731 — empty means unset
    webhook = WebhookSettings(get(WEBHOOK_URL)) if get(WEBHOOK_URL) else None
    slack = None
    if get(SLACK_TOKEN) or get(SLACK_CHANNEL):
        if not (get(SLACK_TOKEN) and get(SLACK_CHANNEL)):
            raise NotifySettingsError(f"Slack needs both {SLACK_TOKEN} and {SLACK_CHANNEL}")
        slack = SlackSettings(get(SLACK_TOKEN), get(SLACK_CHANNEL), get(SLACK_BASE_URL))
    smtp = _smtp(get) if get(SMTP_HOST) else None
    severity = (get(MIN_SEVERITY) or "WARN").upper()
    if severity not in ("WARN", "ERROR"):
        raise NotifySettingsError(f"{MIN_SEVERITY} must be WARN or ERROR, not {severity!r}")
    return NotifySettings(webhook, slack, smtp, severity, (get(UI_URL) or "").rstrip("/") or None)


def _smtp(get) -> SmtpSettings:
    recipients = tuple(a.strip() for a in (get(SMTP_TO) or "").split(",") if a.strip())
    if not recipients or not get(SMTP_FROM):
        raise NotifySettingsError(f"email needs {SMTP_FROM} and {SMTP_TO} (comma-separated) besides {SMTP_HOST}")
    if bool(get(SMTP_USER)) != bool(get(SMTP_PASSWORD)):
        raise NotifySettingsError(f"an SMTP login needs both {SMTP_USER} and {SMTP_PASSWORD}")
    # A password never crosses the network in clear: STARTTLS is on by default when logging in.
    raw_tls = get(SMTP_STARTTLS)
    starttls = bool(get(SMTP_USER)) if raw_tls is None else raw_tls.lower() in ("1", "true", "yes", "on")
    try:
        port = int(get(SMTP_PORT) or (587 if starttls else 25))
    except ValueError:
        raise NotifySettingsError(f"{SMTP_PORT} must be a number, not {get(SMTP_PORT)!r}") from None
    return SmtpSettings(get(SMTP_HOST), port, get(SMTP_FROM), recipients, get(SMTP_USER), get(SMTP_PASSWORD), starttls)


def secret_values(env: Mapping[str, str] | None = None) -> list[str]:
    """Every value that must never be shown: the notification secrets, and any ``*TOKEN*``/``*PASSWORD*``/``*SECRET*``
    variable of the process (a CMMS token in an error message must not be forwarded to a chat channel)."""
    env = os.environ if env is None else env
    names = set(SECRET_SETTINGS) | {
        n for n in env if any(word in n.upper() for word in ("TOKEN", "PASSWORD", "SECRET", "API_KEY"))
    }
    values = {env[n] for n in names if env.get(n)}
    # A URL's password (IC3_DATABASE_URL=postgresql://user:pw@host/db) is a secret too, wherever it is quoted.
    values |= {_url_password(env[n]) for n in env if n.upper().endswith("_URL") and env.get(n)} - {None}
    return sorted((v for v in values if len(v) >= 6), key=len, reverse=True)


def _url_password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def redact(text: str, secrets: list[str] | None = None) -> str:
    for value in secret_values() if secrets is None else secrets:
        text = text.replace(value, "***")
    return text
