"""Credentials that change per request: an API key in the query, a signed URL, a session or OAuth2 token.

A static header (a bearer token, an API key header, HTTP basic) is a header of the client and needs nothing here.
These are ``httpx.Auth`` flows, so every attempt of a call - retries included - is signed anew (a fresh timestamp)
and carries the current token; a token is fetched once and shared by every call in flight, fetched again when it
expires or when the API answers 401 (once per call: a second 401 is the API's final word).

A login the API refuses (400/401/403) raises :class:`AuthRefused`: nothing can be read, the sync stops. A login that
fails for a moment (429, 5xx) raises the client's ``TransientFailure``, so the call is retried like any other.
Secrets never appear in messages: a refusal says the login URL and HTTP status only.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import httpx

from ic3_pipeline.http_client.retry import TransientFailure, is_retryable_status, parse_retry_after


class AuthRefused(RuntimeError):
    """The API refused the credentials (a login, a token request): no call can succeed with them."""


def join_url(base_url: str, path: str) -> str:
    """``path`` under ``base_url`` the way the client joins them (appended to the base path), or ``path`` itself when
    it is absolute (``https://login.example.com/token``)."""
    if path.startswith(("http://", "https://")):
        return path
    return base_url.rstrip("/") + "/" + path.lstrip("/")


class _QuerySecretsRedacted(logging.Filter):
    """httpx logs every request's URL (at INFO); a credential sent in the query would be in that line. This filter
    on httpx's logger masks the values registered by the auths that put one there."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            masked = message
            for secret in sorted(self.secrets, key=len, reverse=True):
                masked = masked.replace(quote(secret, safe=""), "***").replace(secret, "***")
            if masked != message:
                record.msg, record.args = masked, ()
        return True


_REDACTED = _QuerySecretsRedacted()
logging.getLogger("httpx").addFilter(_REDACTED)


def redact_in_logs(*secrets: str) -> None:
    """Mask these values in httpx's log lines (credentials sent in a URL's query)."""
    _REDACTED.secrets.update(secret for secret in secrets if secret)


class QueryKeyAuth(httpx.Auth):
    """An API key sent as a query parameter of every request."""

    def __init__(self, param: str, key: str) -> None:
        self._param, self._key = param, key
        redact_in_logs(key)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.url = request.url.copy_set_param(self._param, self._key)
        yield request

    def __repr__(self) -> str:
        return f"QueryKeyAuth({self._param!r}, key=***)"


class SignedUrlAuth(httpx.Auth):
    """Key parameters and a millisecond timestamp added to the query, then a header holding the lowercase hex
    HMAC-SHA256 of the URL without its scheme (``host[:port]/path?query``), keyed by the secret."""

    def __init__(self, *, keys: Mapping[str, str], params: Mapping[str, str], timestamp_param: str, secret: str,
                 header: str, clock: Callable[[], float] = time.time) -> None:
        """``keys``: parameter -> credential (masked in logs); ``params``: fixed parameters."""
        self._params, self._timestamp_param = {**keys, **params}, timestamp_param
        redact_in_logs(*keys.values())
        self._secret, self._header, self._clock = secret.encode(), header, clock

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        url = request.url
        for name, value in self._params.items():
            url = url.copy_set_param(name, value)
        request.url = url.copy_set_param(self._timestamp_param, str(int(self._clock() * 1000)))
        request.headers[self._header] = signature(self._secret, str(request.url))
        yield request

    def __repr__(self) -> str:
        return f"SignedUrlAuth(params={sorted(self._params)}, header={self._header!r}, secret=***)"


def signature(secret: bytes, url: str) -> str:
    """The lowercase hex HMAC-SHA256 of ``url`` without its scheme."""
    unsigned = url.split("://", 1)[1] if "://" in url else url
    return hmac.new(secret, unsigned.encode(), hashlib.sha256).hexdigest()


class TokenAuth(httpx.Auth, ABC):
    """A token fetched by a request of its own, cached, put in a header of every call; fetched again when it
    expires (``renew_before_s`` early) or when a call is answered 401. One fetch at a time: calls in flight wait for
    it and share its token."""

    requires_response_body = True

    def __init__(self, *, header: str, prefix: str, renew_before_s: float, what: str) -> None:
        self._header, self._prefix, self._renew_before_s, self._what = header, prefix, renew_before_s, what
        self._token: str | None = None
        self._expires_at: float | None = None  # time.time() when the token stops working (None: until refused)
        self._lock = asyncio.Lock()
        self.fetches = 0  # tokens fetched (for tests and figures)

    @abstractmethod
    def token_request(self) -> httpx.Request:
        """The request that fetches a token (each kind says its own)."""

    @abstractmethod
    def read_token(self, body: Any) -> tuple[str | None, float | None]:
        """(token, expiry as time.time()) from the token answer's JSON."""

    def _valid(self) -> bool:
        return self._token is not None and (
            self._expires_at is None or time.time() < self._expires_at - self._renew_before_s)

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        async with self._lock:
            if not self._valid():
                self._accept(await self._fetch_with(self.token_request()))
            token = self._token
        request.headers[self._header] = self._prefix + (token or "")
        response = yield request
        if response.status_code != 401:
            return
        async with self._lock:
            if self._token == token:  # nobody fetched a new one meanwhile
                self._token = None
                self._accept(await self._fetch_with(self.token_request()))
            token = self._token
        request.headers[self._header] = self._prefix + (token or "")
        yield request

    async def _fetch_with(self, token_request: httpx.Request) -> httpx.Response:
        # The token request goes out on a short-lived client of its own, so it is awaited under the lock (calls in
        # flight wait for it) without going through this flow again.
        self.fetches += 1
        async with httpx.AsyncClient(timeout=httpx.Timeout(30.0)) as http:
            try:
                return await http.send(token_request)
            except httpx.TimeoutException:
                raise TransientFailure(f"{self._what} timed out", timed_out=True) from None
            except httpx.TransportError as exc:
                raise TransientFailure(f"{self._what}: connection failed ({type(exc).__name__})") from None

    def _accept(self, response: httpx.Response) -> None:
        status = response.status_code
        where = f"{self._what} at {response.request.url.copy_with(query=None)}"
        if is_retryable_status(status):
            raise TransientFailure(f"HTTP {status} from {where}", status=status,
                                   retry_after_s=parse_retry_after(response.headers.get("Retry-After")))
        if status >= 300:
            raise AuthRefused(f"{where} was refused (HTTP {status}): check the credentials' environment variables")
        try:
            body = response.json()
        except ValueError:
            raise TransientFailure(f"{where} answered a body that is not JSON") from None
        token, expires_at = self.read_token(body)
        if not token:
            raise AuthRefused(f"{where} answered HTTP {status} without a token")
        self._token, self._expires_at = token, expires_at

    def __repr__(self) -> str:
        return f"{type(self).__name__}(header={self._header!r}, token=***)"


class SessionAuth(TokenAuth):
    """A session opened by a login request (``POST /auth`` with a JSON body holding the user and password), its
    token read at ``token_path`` and its expiry (ISO instant) at ``expires_at_path``."""

    def __init__(self, *, login_url: str, method: str, body: Any, token_path: str, expires_at_path: str | None,
                 header: str, prefix: str = "", renew_before_s: float = 30.0,
                 dig: Callable[[Any, str], Any]) -> None:
        super().__init__(header=header, prefix=prefix, renew_before_s=renew_before_s, what="the login")
        self._url, self._method, self._body = login_url, method, body
        self._token_path, self._expires_at_path, self._dig = token_path, expires_at_path, dig

    def token_request(self) -> httpx.Request:
        return httpx.Request(self._method, self._url, content=json.dumps(self._body).encode(),
                             headers={"Content-Type": "application/json", "Accept": "application/json"})

    def read_token(self, body: Any) -> tuple[str | None, float | None]:
        token = self._dig(body, self._token_path)
        expires = self._dig(body, self._expires_at_path) if self._expires_at_path else None
        return (str(token) if token else None), _instant(expires)


class ClientCredentialsAuth(TokenAuth):
    """OAuth2 client credentials: a form post of the client id and secret (in the body, or as HTTP basic) to the
    token URL; ``access_token`` kept until ``expires_in`` seconds have passed."""

    def __init__(self, *, token_url: str, client_id: str, client_secret: str, scope: str | None,
                 credentials_in: str = "body", renew_before_s: float = 30.0) -> None:
        super().__init__(header="Authorization", prefix="Bearer ", renew_before_s=renew_before_s,
                         what="the token request")
        self._url, self._id, self._secret, self._scope, self._in = token_url, client_id, client_secret, scope, credentials_in

    def token_request(self) -> httpx.Request:
        form = {"grant_type": "client_credentials", **({"scope": self._scope} if self._scope else {})}
        auth = None
        if self._in == "basic":
            auth = httpx.BasicAuth(self._id, self._secret)
        else:
            form.update(client_id=self._id, client_secret=self._secret)
        request = httpx.Request("POST", self._url, data=form, headers={"Accept": "application/json"})
        if auth is not None:
            request = next(auth.auth_flow(request))
        return request

    def read_token(self, body: Any) -> tuple[str | None, float | None]:
        if not isinstance(body, dict):
            return None, None
        expires_in = body.get("expires_in")
        try:
            expires_at = time.time() + float(expires_in) if expires_in is not None else None
        except (TypeError, ValueError):
            expires_at = None
        token = body.get("access_token")
        return (str(token) if token else None), expires_at


def _instant(value: Any) -> float | None:
    """An expiry as ``time.time()``: an ISO instant, or epoch seconds/milliseconds; None when absent or unreadable
    (the token is then used until the API refuses it)."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return value / 1000 if value > 1e11 else float(value)
    text = str(value).strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()
