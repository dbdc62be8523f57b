"""A collection connector described by data instead of code: the HTTP shape of an API as a ``defs.yaml`` declares it.

Most REST APIs differ only in where things are: how a call is authorised, which method, path, query and body ask for
a page, how the next page is named (offset, page number, next link, cursor), where the records and the total are in
the answer, and how the API says "error" or "slow down". :class:`DeclarativeConnector` reads those places from a
:class:`DeclarativeApi` and is otherwise the same kind of connector as a hand-written one, so the engine pages,
writes, tracks marks and deletes exactly as it does for any source. No CMMS is named here.

Templates: strings in a request's path, query, headers and body may hold ``{page_size}``, ``{offset}``, ``{page}``,
``{cursor}``, ``{since}``, ``{partition}`` and ``{resource}``. A string that is only a placeholder takes the
value's own type (``"{offset}"`` → ``0`` in a JSON body); a query parameter or body entry whose placeholder has no
value (``{cursor}`` on the first page) is left out.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal
from urllib.parse import quote

import httpx

from ic3_pipeline.http_client import RetryableResponse
from ic3_pipeline.http_client.auth import (
    ClientCredentialsAuth,
    QueryKeyAuth,
    SessionAuth,
    SignedUrlAuth,
    join_url,
)
from ic3_pipeline.sync.connector import Credentials
from ic3_pipeline.sync.streams import CollectionApiError, Page, PageCall, PageRequest, PagingKind, StreamSpec

AuthKind = Literal["none", "bearer", "api_key", "basic", "session", "hmac_signed_url", "oauth2_client_credentials"]
PaginatorKind = Literal["offset", "page_number", "next_link", "cursor", "single"]

# The placeholders a request template may use, and those of a session login body.
REQUEST_PLACEHOLDERS = frozenset({"page_size", "offset", "page", "cursor", "since", "partition", "resource"})
LOGIN_PLACEHOLDERS = frozenset({"user", "password"})
# The secrets (resource fields) each auth kind reads, by role.
AUTH_SECRETS: dict[str, tuple[str, ...]] = {
    "none": (),
    "bearer": ("token",),
    "api_key": ("api_key",),
    "basic": ("user", "password"),
    "session": ("user", "password"),
    "hmac_signed_url": ("app_key", "access_key", "secret_key"),
    "oauth2_client_credentials": ("client_id", "client_secret"),
}
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_MISSING = object()  # a template whose placeholder has no value: its entry is left out


def placeholders(template: Any) -> set[str]:
    """Every ``{name}`` a template (a string, or a JSON value holding strings) uses."""
    if isinstance(template, str):
        return set(_PLACEHOLDER.findall(template))
    if isinstance(template, Mapping):
        return set().union(*(placeholders(v) for v in template.values())) if template else set()
    if isinstance(template, (list, tuple)):
        return set().union(*(placeholders(v) for v in template)) if template else set()
    return set()


def render(template: Any, values: Mapping[str, Any]) -> Any:
    """``template`` with its placeholders filled from ``values`` (see the module's docstring); unknown ``{…}`` (a
    brace in a JSON text body) is left as it is."""
    if isinstance(template, str):
        whole = _PLACEHOLDER.fullmatch(template)
        if whole and whole.group(1) in values:
            value = values[whole.group(1)]
            return _MISSING if value is None else value
        missing = False

        def one(match: re.Match) -> str:
            nonlocal missing
            if match.group(1) not in values:
                return match.group(0)
            value = values[match.group(1)]
            missing = missing or value is None
            return "" if value is None else str(value)

        text = _PLACEHOLDER.sub(one, template)
        return _MISSING if missing else text
    if isinstance(template, Mapping):
        rendered = {key: render(value, values) for key, value in template.items()}
        return {key: value for key, value in rendered.items() if value is not _MISSING}
    if isinstance(template, (list, tuple)):
        return [item for item in (render(value, values) for value in template) if item is not _MISSING]
    return template


def merge(base: Any, extra: Any) -> Any:
    """``extra`` laid over ``base``: objects merged key by key, lists joined (an incremental filter added to the
    source's filters), anything else replaced."""
    if isinstance(base, Mapping) and isinstance(extra, Mapping):
        merged = dict(base)
        for key, value in extra.items():
            merged[key] = merge(base[key], value) if key in base else value
        return merged
    if isinstance(base, list) and isinstance(extra, list):
        return [*base, *extra]
    return extra if extra is not None else base


def dig(document: Any, path: str | None) -> Any:
    """The value at a dotted ``path`` (``d.results``, ``error.message.value``); a key that itself holds dots
    (``@odata.nextLink``) is found too; list items by index (``items.0.id``). None when nothing is there."""
    if path is None or path in ("", "."):
        return document
    parts = path.split(".")

    def walk(node: Any, index: int) -> Any:
        if index == len(parts):
            return node
        for end in range(len(parts), index, -1):  # the longest key first: "@odata.nextLink" before "@odata"
            key = ".".join(parts[index:end])
            if isinstance(node, Mapping) and key in node:
                found = walk(node[key], end)
                if found is not None:
                    return found
            elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
                return walk(node[int(key)], end)
        return None

    return walk(document, 0)


@dataclass(frozen=True)
class AuthShape:
    """How calls are authorised. ``secrets``: role (``token``, ``user``, …) → environment variable name."""

    kind: AuthKind = "none"
    secrets: Mapping[str, str] = field(default_factory=dict)
    header: str | None = None  # bearer/api_key/session/hmac: the header carrying the credential
    prefix: str = ""  # before the token in the header ("Bearer ")
    location: Literal["header", "query"] = "header"  # api_key
    param: str | None = None  # api_key in the query: its parameter
    login_method: str = "POST"  # session
    login_path: str | None = None
    login_body: Any = None
    token_path: str | None = None
    expires_at_path: str | None = None
    renew_before_s: float = 30.0  # session and oauth2: fetch a new token this long before it expires
    key_params: Mapping[str, str] = field(default_factory=dict)  # hmac: query parameter -> secret role
    params: Mapping[str, str] = field(default_factory=dict)  # hmac: fixed query parameters
    timestamp_param: str = "timestamp"  # hmac: milliseconds since the epoch
    token_url: str | None = None  # oauth2
    scope: str | None = None
    credentials_in: Literal["body", "basic"] = "body"


@dataclass(frozen=True)
class RequestShape:
    method: str = "GET"
    path: str = "{resource}"
    query: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None  # a JSON value (sent as JSON text) or a string (sent as it is)


@dataclass(frozen=True)
class PaginatorShape:
    kind: PaginatorKind = "single"
    location: Literal["query", "body"] = "query"  # where the paging parameters go
    offset_param: str | None = None  # offset: the first record's position (``offset``, ``startIndex``)
    limit_param: str | None = None  # offset, page_number, cursor, next_link: the page size (``limit``, ``$top``)
    page_param: str | None = None  # page_number
    first_page: int = 1
    next_path: str | None = None  # next_link: where the link is in the body (``d.__next``)
    next_header: bool = False  # next_link: the ``Link: <…>; rel="next"`` header
    cursor_path: str | None = None  # cursor: where the next cursor is in the body
    cursor_param: str | None = None  # cursor: the parameter it goes back in
    total_path: str | None = None  # the number of records in the whole result (lets pages be read at once)

    @property
    def engine_kind(self) -> PagingKind:
        return "next_link" if self.kind == "single" else self.kind


@dataclass(frozen=True)
class ThrottleShape:
    """A "slow down" inside an answer's body (not a 429): a code at ``code_path`` among ``codes``, the advised
    wait at ``wait_path`` (in ``wait_unit``), else ``default_wait_s``."""

    code_path: str
    codes: tuple[str, ...]
    wait_path: str | None = None
    wait_unit: Literal["s", "ms"] = "ms"
    default_wait_s: float | None = None


@dataclass(frozen=True)
class IncrementalShape:
    """How an incremental read says "changed since": entries laid over the request's query and body, ``{since}``
    formatted with ``since_format`` (``iso``, ``epoch_s``, ``epoch_ms`` or a strftime pattern, in UTC), ``lag_s``
    earlier than the mark (on top of the source's overlap)."""

    query: Mapping[str, Any] = field(default_factory=dict)
    body: Any = None
    since_format: str = "iso"
    lag_s: float = 0.0


@dataclass(frozen=True)
class StreamShape:
    request: RequestShape = RequestShape()
    paginator: PaginatorShape = PaginatorShape()
    records_path: str | None = None  # where the records are (None: the body is the list)
    error_message_path: str | None = None  # the API's error envelope: its message
    error_code_path: str | None = None
    not_found_is_empty: bool = False  # a 404 answer means "no records" (an API that says so for an empty page)
    throttle: ThrottleShape | None = None
    incremental: IncrementalShape | None = None


@dataclass(frozen=True)
class DeclarativeApi:
    display_name: str
    auth: AuthShape
    streams: Mapping[str, StreamShape]


def format_since(since: datetime, how: str) -> str | int:
    since = since.astimezone(timezone.utc)
    if how == "iso":
        return since.strftime("%Y-%m-%dT%H:%M:%SZ")
    if how == "epoch_s":
        return int(since.timestamp())
    if how == "epoch_ms":
        return int(since.timestamp() * 1000)
    return since.strftime(how)


class DeclarativeConnector:
    """A collection connector whose every API-specific choice comes from a :class:`DeclarativeApi`."""

    kind = "collection"
    paging: PagingKind = "offset"  # per stream really: see :meth:`stream_paging`

    def __init__(self, name: str, api: DeclarativeApi) -> None:
        self.name, self.api = name, api
        self.display_name = api.display_name
        roles = AUTH_SECRETS[api.auth.kind]
        self.secrets: Mapping[str, str] = {role: f"{role.replace('_', ' ')} ({api.auth.kind} auth)" for role in roles}
        self.secret_alternatives: tuple[tuple[str, ...], ...] = (roles,)

    def stream_paging(self, stream: StreamSpec) -> PagingKind:
        return self._shape(stream).paginator.engine_kind

    def _shape(self, stream: StreamSpec) -> StreamShape:
        try:
            return self.api.streams[stream.name]
        except KeyError:
            raise CollectionApiError(f"{self.display_name}: stream {stream.name!r} has no request shape") from None

    # --- credentials ------------------------------------------------------------------------------------------------
    def _require(self, credentials: Credentials) -> None:
        auth = self.api.auth
        missing = [role for role in AUTH_SECRETS[auth.kind] if not credentials.get(role)]
        if missing:
            raise CollectionApiError(
                f"No {self.display_name} credentials: set {' and '.join(credentials.where(r) for r in missing)} in "
                "the environment.", auth=True)

    def headers(self, credentials: Credentials) -> dict[str, str]:
        """Static credentials as headers (the client masks header values in every message)."""
        self._require(credentials)
        auth = self.api.auth
        if auth.kind == "bearer":
            return {auth.header or "Authorization": auth.prefix + credentials.get("token")}
        if auth.kind == "api_key" and auth.location == "header":
            return {auth.header or "X-API-Key": auth.prefix + credentials.get("api_key")}
        if auth.kind == "basic":
            pair = f"{credentials.get('user')}:{credentials.get('password')}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
        return {}

    def auth(self, credentials: Credentials, base_url: str) -> httpx.Auth | None:
        """Credentials that change per request: a key in the query, a signature, a session or OAuth2 token."""
        self._require(credentials)
        auth = self.api.auth
        if auth.kind == "api_key" and auth.location == "query":
            return QueryKeyAuth(auth.param or "api_key", credentials.get("api_key"))
        if auth.kind == "hmac_signed_url":
            keys = {param: credentials.get(role) for param, role in auth.key_params.items()}
            return SignedUrlAuth(keys=keys, params=auth.params, timestamp_param=auth.timestamp_param,
                                 secret=credentials.get("secret_key"), header=auth.header or "Authorization")
        if auth.kind == "session":
            body = render(auth.login_body, {"user": credentials.get("user"), "password": credentials.get("password")})
            return SessionAuth(login_url=join_url(base_url, auth.login_path or "/auth"), method=auth.login_method,
                               body=body, token_path=auth.token_path or "token", expires_at_path=auth.expires_at_path,
                               header=auth.header or "Authorization", prefix=auth.prefix,
                               renew_before_s=auth.renew_before_s, dig=dig)
        if auth.kind == "oauth2_client_credentials":
            return ClientCredentialsAuth(token_url=join_url(base_url, auth.token_url or "/oauth/token"),
                                         client_id=credentials.get("client_id"),
                                         client_secret=credentials.get("client_secret"), scope=auth.scope,
                                         credentials_in=auth.credentials_in, renew_before_s=auth.renew_before_s)
        return None

    # --- asking for a page ------------------------------------------------------------------------------------------
    def page_request(self, request: PageRequest) -> PageCall:
        shape = self._shape(request.stream)
        paginator, incremental = shape.paginator, shape.incremental
        since = None
        if request.since is not None and incremental is not None:
            since = format_since(request.since - timedelta(seconds=incremental.lag_s), incremental.since_format)
        values = {"page_size": request.page_size, "offset": request.offset,
                  "page": paginator.first_page + request.page_number - 1, "cursor": request.cursor,
                  "since": since, "partition": request.partition, "resource": request.stream.resource}
        query: dict[str, Any] = dict(shape.request.query)
        body = shape.request.body
        if since is not None and incremental is not None:
            query.update(incremental.query)
            body = merge(body, incremental.body)
        paging = self._paging_params(paginator, request)
        if paginator.location == "body":
            body = merge(body if body is not None else {}, paging)
        else:
            query.update(paging)
        path = render(shape.request.path, values)
        rendered_query = render(query, values)
        url = str(path) if path is not _MISSING else ""
        if rendered_query:
            url += ("&" if "?" in url else "?") + "&".join(
                f"{quote(str(k), safe='$')}={quote(_text(v), safe=',:$')}" for k, v in rendered_query.items())
        headers = render(dict(shape.request.headers), values)
        content = None
        if body is not None:
            rendered = render(body, values)
            content = rendered if isinstance(rendered, str) else json.dumps(rendered)
            if not any(name.lower() == "content-type" for name in headers):
                headers["Content-Type"] = "text/plain" if isinstance(rendered, str) else "application/json"
        return PageCall(url=url, method=shape.request.method, content=content, headers=headers,
                        parse=lambda response: self._parse(shape, response))

    @staticmethod
    def _paging_params(paginator: PaginatorShape, request: PageRequest) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if paginator.limit_param:
            params[paginator.limit_param] = request.page_size
        if paginator.kind == "offset" and paginator.offset_param:
            params[paginator.offset_param] = request.offset
        if paginator.kind == "page_number" and paginator.page_param:
            params[paginator.page_param] = paginator.first_page + request.page_number - 1
        if paginator.kind == "cursor" and paginator.cursor_param and request.cursor is not None:
            params[paginator.cursor_param] = request.cursor
        return params

    # --- reading an answer ------------------------------------------------------------------------------------------
    def parse_page(self, response: httpx.Response) -> Page:  # every call carries its stream's reader
        raise CollectionApiError(f"{self.display_name}: an answer without its stream's reader")

    def _parse(self, shape: StreamShape, response: httpx.Response) -> Page:
        status = response.status_code
        if status == 404 and shape.not_found_is_empty:
            return Page(records=[])
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
            if status < 300:
                raise RetryableResponse("the body is not JSON (truncated?)") from None
            raise self._refusal(status, None, response) from None
        if shape.throttle is not None:
            self._check_throttle(shape.throttle, body)
        message = dig(body, shape.error_message_path) if shape.error_message_path else None
        if status >= 300 or message:
            code = dig(body, shape.error_code_path) if shape.error_code_path else None
            raise self._refusal(status, message, response, code)
        records = dig(body, shape.records_path)
        if records is None:
            records = []
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise RetryableResponse(f"{shape.records_path or 'the body'} is not a list of records")
        paginator = shape.paginator
        total = _int(dig(body, paginator.total_path)) if paginator.total_path else None
        next_url = cursor = None
        if paginator.kind == "next_link":
            link = response.links.get("next", {}).get("url") if paginator.next_header else dig(body, paginator.next_path)
            if isinstance(link, str) and link.strip():
                next_url = str(response.url.join(link.strip()))  # relative to the answer, like a browser
        elif paginator.kind == "cursor":
            found = dig(body, paginator.cursor_path)
            cursor = str(found) if found not in (None, "") else None
        return Page(records=records, next_url=next_url, cursor=cursor, total_count=total)

    def _check_throttle(self, throttle: ThrottleShape, body: Any) -> None:
        code = dig(body, throttle.code_path)
        if code is None or str(code) not in throttle.codes:
            return
        wait = dig(body, throttle.wait_path) if throttle.wait_path else None
        try:
            wait_s = float(wait) / (1000 if throttle.wait_unit == "ms" else 1) if wait is not None else None
        except (TypeError, ValueError):
            wait_s = None
        if wait_s is None:
            wait_s = throttle.default_wait_s
        raise RetryableResponse(f"{self.display_name} answered throttle code {code}", throttled=True,
                                retry_after_s=wait_s)

    def _refusal(self, status: int, message: Any, response: httpx.Response, code: Any = None) -> CollectionApiError:
        text = str(message).strip() if message not in (None, "") else _snippet(response.text) or "(empty body)"
        code_text = f", {code}" if code not in (None, "") and str(code) not in text else ""
        return CollectionApiError(f"{self.display_name} refused the request (HTTP {status}{code_text}): {text}",
                                  status=status, auth=status in (401, 403))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _snippet(text: str, limit: int = 200) -> str:
    return " ".join(text.split())[:limit]
