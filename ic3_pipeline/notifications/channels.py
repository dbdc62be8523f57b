"""The three ways a notice leaves the process: a JSON POST to a webhook, a Slack message, an email.

Each channel's ``send`` raises ``DeliveryError`` with a message safe to log (no URL path, token or password): the
sensor then keeps that notice for its next tick.
"""

from __future__ import annotations

import smtplib
from email import policy
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import urlsplit

import httpx
from dagster_slack import SlackResource

from ic3_pipeline.notifications.message import Notice
from ic3_pipeline.notifications.settings import (
    TIMEOUT_S,
    NotifySettings,
    SlackSettings,
    SmtpSettings,
    WebhookSettings,
    redact,
)


class DeliveryError(RuntimeError):
    """A channel could not deliver a notice; the message names the channel and the cause, never a secret."""


class Channel(Protocol):
    name: str

    def send(self, notice: Notice) -> None: ...


class WebhookChannel:
    """POSTs the notice's JSON payload; any 2xx answer counts as delivered."""

    name = "webhook"

    def __init__(self, settings: WebhookSettings):
        self._url = settings.url
        self.shown = urlsplit(settings.url).netloc  # only the host is ever shown: the path may be a secret

    def send(self, notice: Notice) -> None:
        # Through the transport, not an httpx.Client: the client logs each request's full URL at INFO, and a webhook
        # URL's path is often its secret (Slack's and Teams' incoming webhooks are).
        request = httpx.Request("POST", self._url, json=notice.payload(),
                                extensions={"timeout": httpx.Timeout(TIMEOUT_S).as_dict()})
        try:
            with httpx.HTTPTransport() as transport:
                response = transport.handle_request(request)
                response.read()
        except httpx.HTTPError as error:
            raise DeliveryError(f"webhook at {self.shown}: {type(error).__name__}: {_safe(error, self._url)}") from None
        if not response.is_success:
            raise DeliveryError(f"webhook at {self.shown} answered HTTP {response.status_code}")


class SlackChannel:
    """Posts the notice's text with ``chat.postMessage`` through Dagster's Slack resource (slack_sdk's client)."""

    name = "slack"

    def __init__(self, settings: SlackSettings):
        self._settings = settings
        self.shown = f"channel {settings.channel}"

    def send(self, notice: Notice) -> None:
        from slack_sdk.errors import SlackApiError

        client = SlackResource(token=self._settings.token).get_client()
        client.timeout = int(TIMEOUT_S)
        if self._settings.base_url:  # a Slack-compatible endpoint (the tests' local receiver)
            client.base_url = self._settings.base_url.rstrip("/") + "/"
        try:
            client.chat_postMessage(channel=self._settings.channel, text=notice.text(), unfurl_links=False)
        except SlackApiError as error:
            answer = error.response
            if answer.status_code != 200:
                raise DeliveryError(f"Slack {self.shown}: answered HTTP {answer.status_code}") from None
            raise DeliveryError(f"Slack {self.shown}: {answer.get('error') or 'not ok'}") from None
        except Exception as error:  # slack_sdk raises urllib's errors as they come (URLError, timeouts, ...)
            raise DeliveryError(f"Slack {self.shown}: {type(error).__name__}: {_safe(error, self._settings.token)}") from None


class EmailChannel:
    """Sends the notice as a plain-text email over SMTP (STARTTLS and a login when configured)."""

    name = "email"

    def __init__(self, settings: SmtpSettings):
        self._settings = settings
        self.shown = f"{settings.host}:{settings.port}"

    def send(self, notice: Notice) -> None:
        s = self._settings
        # Headers folded only past SMTP's own line limit: Python folds a long subject onto a line of its own.
        message = EmailMessage(policy=policy.SMTP.clone(max_line_length=998))
        message["Subject"] = notice.title
        message["From"] = s.sender
        message["To"] = ", ".join(s.recipients)
        message.set_content(notice.text())
        try:
            with smtplib.SMTP(s.host, s.port, timeout=TIMEOUT_S) as smtp:
                if s.starttls:
                    smtp.starttls()
                if s.user:
                    smtp.login(s.user, s.password or "")
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as error:
            raise DeliveryError(f"email via {self.shown}: {type(error).__name__}: {_safe(error, s.password)}") from None


def configured_channels(settings: NotifySettings) -> list[Channel]:
    channels: list[Channel] = []
    if settings.webhook:
        channels.append(WebhookChannel(settings.webhook))
    if settings.slack:
        channels.append(SlackChannel(settings.slack))
    if settings.smtp:
        channels.append(EmailChannel(settings.smtp))
    return channels


def _safe(error: BaseException, secret: str | None) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return redact(text.replace(secret, "***") if secret else text)
