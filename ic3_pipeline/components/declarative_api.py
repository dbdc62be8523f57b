"""The ``api:`` block of a ``CmmsCollections`` YAML: an API's HTTP shape declared instead of a Python connector.

At the source level ``api:`` holds the API's name, its ``auth`` and the defaults every stream shares (``request``,
``paginator``, ``records``, ``errors``, ``throttle``, ``incremental``); a stream's own ``api:`` overrides them key by
key (a stream's ``request.query`` adds to the source's). Everything is checked when the definitions load - an
unknown key, auth kind or paginator, a missing environment-variable name, a placeholder that means nothing - and
reported at its line. Secrets are environment-variable NAMES (``*_env``), never values, and never template-expanded.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from dagster.components import Model, Resolvable, Resolver
from pydantic import Field

from ic3_pipeline.components.connection import _ENV_NAME
from ic3_pipeline.sync.declarative import (
    AUTH_SECRETS,
    LOGIN_PLACEHOLDERS,
    REQUEST_PLACEHOLDERS,
    AuthShape,
    DeclarativeApi,
    IncrementalShape,
    PaginatorShape,
    RequestShape,
    StreamShape,
    ThrottleShape,
    placeholders,
)

# The environment-variable keys each auth kind needs, and the secret (resource field) each one fills.
_AUTH_ENV = {
    "none": {},
    "bearer": {"token_env": "token"},
    "api_key": {"key_env": "api_key"},
    "basic": {"user_env": "user", "password_env": "password"},
    "session": {"user_env": "user", "password_env": "password"},
    "hmac_signed_url": {"app_key_env": "app_key", "access_key_env": "access_key", "secret_key_env": "secret_key"},
    "oauth2_client_credentials": {"client_id_env": "client_id", "client_secret_env": "client_secret"},
}
assert all(set(_AUTH_ENV[k].values()) == set(AUTH_SECRETS[k]) for k in AUTH_SECRETS)
_ALL_ENV_KEYS = sorted({key for keys in _AUTH_ENV.values() for key in keys})


def _passthrough(description: str):
    """A free-form JSON template: kept exactly as written (never Jinja-expanded), checked by the model."""
    return Resolver.passthrough(description=description)


class LoginAttributes(Resolvable, Model):
    method: Literal["POST", "PUT", "GET"] = Field(default="POST", description="The login request's method.")
    path: str = Field(default="/auth", description="The login path under the base URL (or an absolute URL).")
    body: Annotated[Any, _passthrough("The JSON body; `{user}` and `{password}` are the secrets.")] = None

    def problems(self) -> list[str]:
        unknown = placeholders(self.body) - LOGIN_PLACEHOLDERS
        if unknown:
            return [f"body: unknown placeholder(s) {_braced(unknown)}; a login body knows {{user}} and {{password}}"]
        return []


class AuthAttributes(Resolvable, Model):
    kind: Literal["none", "bearer", "api_key", "basic", "session", "hmac_signed_url", "oauth2_client_credentials"] = \
        Field(description="How calls are authorised.")
    token_env: str | None = Field(default=None, description="bearer: the variable holding the token.")
    key_env: str | None = Field(default=None, description="api_key: the variable holding the key.")
    user_env: str | None = Field(default=None, description="basic, session: the variable holding the user (email).")
    password_env: str | None = Field(default=None, description="basic, session: the variable holding the password.")
    app_key_env: str | None = Field(default=None, description="hmac_signed_url: the application key's variable.")
    access_key_env: str | None = Field(default=None, description="hmac_signed_url: the access key's variable.")
    secret_key_env: str | None = Field(default=None, description="hmac_signed_url: the signing key's variable.")
    client_id_env: str | None = Field(default=None, description="oauth2_client_credentials: the client id's variable.")
    client_secret_env: str | None = Field(default=None, description="oauth2_client_credentials: the secret's variable.")
    header: str | None = Field(default=None, description="The header carrying the credential (kind's default).")
    prefix: str | None = Field(default=None, description="Before the token in the header (bearer: `Bearer `).")
    location: Literal["header", "query"] = Field(default="header", description="api_key: a header or a query param.")
    param: str | None = Field(default=None, description="api_key in the query: the parameter's name.")
    login: LoginAttributes | None = Field(default=None, description="session: the login request.")
    token_path: str | None = Field(default=None, description="session: where the token is in the login answer.")
    expires_at_path: str | None = Field(default=None, description="session: where its expiry (ISO instant) is.")
    renew_before_s: float = Field(default=30.0, description="session, oauth2: renew the token this long before expiry.")
    app_key_param: str = Field(default="appKey", description="hmac_signed_url: the application key's parameter.")
    access_key_param: str = Field(default="accessKey", description="hmac_signed_url: the access key's parameter.")
    timestamp_param: str = Field(default="timestamp", description="hmac_signed_url: the ms timestamp's parameter.")
    params: Annotated[dict[str, Any], _passthrough("hmac_signed_url: fixed query parameters.")] = Field(
        default_factory=dict)
    token_url: str | None = Field(default=None, description="oauth2: the token endpoint (absolute or under base URL).")
    scope: str | None = Field(default=None, description="oauth2: the scope asked for.")
    credentials_in: Literal["body", "basic"] = Field(default="body", description="oauth2: client id/secret in the "
                                                     "form body or as HTTP basic.")

    def problems(self) -> list[str]:
        """What does not fit the kind (``key: message``); the component reports them at their lines."""
        wanted = _AUTH_ENV[self.kind]
        missing = [key for key in wanted if not getattr(self, key)]
        if missing:
            return [f"{missing[0]}: auth kind {self.kind!r} needs {', '.join(wanted)} (the NAME of an environment "
                    "variable each)"]
        extra = [key for key in _ALL_ENV_KEYS if key not in wanted and getattr(self, key)]
        if extra:
            return [f"{extra[0]}: auth kind {self.kind!r} takes no {extra[0]} (it takes "
                    f"{', '.join(wanted) or 'no secrets'})"]
        problems = [f"{key}: must be the NAME of an environment variable, never the secret itself"
                    for key in wanted if not _ENV_NAME.match(getattr(self, key))]
        if self.kind == "api_key" and self.location == "query" and not self.param:
            problems.append("param: an api_key in the query needs `param` (the parameter's name)")
        if self.kind == "session" and not self.token_path:
            problems.append("token_path: a session needs `token_path` (where the login answer holds the token)")
        if self.kind == "oauth2_client_credentials" and not self.token_url:
            problems.append("token_url: oauth2_client_credentials needs `token_url`")
        if self.login is not None:
            problems += [f"login.{problem}" for problem in self.login.problems()]
        return problems

    def secrets(self) -> dict[str, str]:
        """Secret (resource field) -> the environment variable holding it."""
        return {role: getattr(self, key) for key, role in _AUTH_ENV[self.kind].items()}

    def shape(self) -> AuthShape:
        default_header = {"bearer": "Authorization", "api_key": "X-API-Key", "session": "Authorization",
                          "hmac_signed_url": "Authorization"}.get(self.kind)
        prefix = self.prefix if self.prefix is not None else ("Bearer " if self.kind == "bearer" else "")
        return AuthShape(
            kind=self.kind, secrets=self.secrets(), header=self.header or default_header, prefix=prefix,
            location=self.location, param=self.param,
            login_method=self.login.method if self.login else "POST",
            login_path=self.login.path if self.login else "/auth",
            login_body=self.login.body if self.login else {"email": "{user}", "password": "{password}"},
            token_path=self.token_path, expires_at_path=self.expires_at_path, renew_before_s=self.renew_before_s,
            key_params={self.app_key_param: "app_key", self.access_key_param: "access_key"},
            params={name: str(value) for name, value in self.params.items()},
            timestamp_param=self.timestamp_param, token_url=self.token_url, scope=self.scope,
            credentials_in=self.credentials_in,
        )


class RequestAttributes(Resolvable, Model):
    method: Literal["GET", "POST", "PUT", "PATCH"] | None = Field(default=None, description="Default GET.")
    path: str | None = Field(default=None, description="Under the base URL; default the stream's `resource`.")
    query: Annotated[dict[str, Any], _passthrough("Query parameters (templates).")] = Field(default_factory=dict)
    headers: Annotated[dict[str, str], _passthrough("Headers of every call (templates).")] = Field(
        default_factory=dict)
    body: Annotated[Any, _passthrough("A JSON body (sent as JSON text) or a text body (templates).")] = None

    def templates(self) -> list[Any]:
        return [self.path, self.query, self.headers, self.body]


class PaginatorAttributes(Resolvable, Model):
    type: Literal["offset", "page_number", "next_link", "cursor", "single"] = Field(
        description="offset, page_number, next_link, cursor, or single (one answer holds everything).")
    location: Literal["query", "body"] = Field(default="query", description="Where the paging parameters go.")
    offset_param: str | None = Field(default=None, description="offset: the first record's position parameter.")
    limit_param: str | None = Field(default=None, description="The page-size parameter.")
    page_param: str | None = Field(default=None, description="page_number: the page's parameter.")
    first_page: int = Field(default=1, description="page_number: the first page's number (0 or 1).")
    next_path: str | None = Field(default=None, description="next_link: where the link is in the body.")
    next_header: bool = Field(default=False, description="next_link: the `Link: <…>; rel=\"next\"` header.")
    cursor_path: str | None = Field(default=None, description="cursor: where the next cursor is in the body.")
    cursor_param: str | None = Field(default=None, description="cursor: the parameter it is sent back in.")
    total_path: str | None = Field(default=None, description="Where the count of all records is (optional).")

    def problems(self) -> list[str]:
        needs = {"offset": ("offset_param", "limit_param"), "page_number": ("page_param",),
                 "cursor": ("cursor_path", "cursor_param")}.get(self.type, ())
        missing = [name for name in needs if not getattr(self, name)]
        if missing:
            return [f"{missing[0]}: paginator {self.type!r} needs {' and '.join(needs)}"]
        if self.type == "next_link" and not (self.next_path or self.next_header):
            return ["next_path: paginator 'next_link' needs next_path (where the link is) or next_header: true"]
        if self.next_path and self.next_header:
            return ["next_header: give next_path or next_header, not both"]
        return []

    def shape(self) -> PaginatorShape:
        return PaginatorShape(**{("kind" if name == "type" else name): value
                                 for name, value in self.model_dump().items()})


class ErrorAttributes(Resolvable, Model):
    message_path: str | None = Field(default=None, description="The error envelope's message (`error.message.value`).")
    code_path: str | None = Field(default=None, description="The error envelope's code.")
    not_found_is_empty: bool | None = Field(default=None, description="A 404 answer means no records.")


class ThrottleAttributes(Resolvable, Model):
    code_path: str = Field(description="Where a throttle code is in an answer's body (`error.code`).")
    codes: list[int | str] = Field(description="The codes meaning 'too many requests'.")
    wait_path: str | None = Field(default=None, description="Where the advised wait is.")
    wait_unit: Literal["s", "ms"] = Field(default="ms", description="The advised wait's unit.")
    default_wait_s: float | None = Field(default=None, description="The wait when the body advises none.")

    def shape(self) -> ThrottleShape:
        return ThrottleShape(code_path=self.code_path, codes=tuple(str(code) for code in self.codes), wait_path=self.wait_path,
                             wait_unit=self.wait_unit, default_wait_s=self.default_wait_s)


class IncrementalAttributes(Resolvable, Model):
    query: Annotated[dict[str, Any], _passthrough("Query parameters of an incremental read ({since}).")] = Field(
        default_factory=dict)
    body: Annotated[Any, _passthrough("Laid over the body of an incremental read ({since}).")] = None
    since_format: str = Field(default="iso", description="iso, epoch_s, epoch_ms or a strftime pattern (UTC).")
    lag_s: float = Field(default=0.0, description="Ask for changes this much before the mark (besides the overlap).")

    def problems(self) -> list[str]:
        problems = []
        if "since" not in placeholders([self.query, self.body]):
            problems.append("query: an incremental read must put {since} in its query or body")
        if self.lag_s < 0:
            problems.append("lag_s: must be at least 0")
        return problems

    def shape(self) -> IncrementalShape:
        return IncrementalShape(query=dict(self.query), body=self.body, since_format=self.since_format,
                                lag_s=self.lag_s)


class StreamApiAttributes(Resolvable, Model):
    """A stream's own HTTP shape, over the source's ``api`` defaults."""

    request: RequestAttributes | None = Field(default=None, description="Method, path, query, headers, body.")
    paginator: PaginatorAttributes | None = Field(default=None, description="How pages follow each other.")
    records: str | None = Field(default=None, description="Where the records are (`results`, `d.results`).")
    errors: ErrorAttributes | None = Field(default=None, description="The error envelope; 404 as empty.")
    throttle: ThrottleAttributes | None = Field(default=None, description="A throttle code in a 200 body.")
    incremental: IncrementalAttributes | None = Field(default=None, description="How `since` goes into a request.")

    def own_problems(self) -> list[str]:
        """Mistakes within this block's own keys (``key.path: message``)."""
        problems = []
        for name in ("auth", "paginator", "incremental"):
            block = getattr(self, name, None)
            if block is not None:
                problems += [f"{name}.{problem}" for problem in block.problems()]
        return problems


class ApiAttributes(StreamApiAttributes):
    """The source's HTTP shape: its name, auth, and what every stream shares."""

    name: str = Field(description="The API's name in messages (as its users call it).")
    auth: AuthAttributes = Field(default_factory=lambda: AuthAttributes(kind="none"), description="How calls are "
                                 "authorised.")

    def stream_shape(self, stream: StreamApiAttributes | None) -> StreamShape:
        """The stream's shape: its own keys over the source's."""
        own = stream or StreamApiAttributes()

        def pick(name: str):
            return getattr(own, name) if getattr(own, name) is not None else getattr(self, name)

        base, mine = self.request or RequestAttributes(), own.request or RequestAttributes()
        request = RequestShape(
            method=mine.method or base.method or "GET",
            path=mine.path or base.path or "{resource}",
            query={**base.query, **mine.query},
            headers={**base.headers, **mine.headers},
            body=mine.body if mine.body is not None else base.body,
        )
        errors_base, errors_mine = self.errors or ErrorAttributes(), own.errors or ErrorAttributes()
        paginator, throttle, incremental = pick("paginator"), pick("throttle"), pick("incremental")
        return StreamShape(
            request=request,
            paginator=paginator.shape() if paginator else PaginatorShape(),
            records_path=pick("records"),
            error_message_path=errors_mine.message_path or errors_base.message_path,
            error_code_path=errors_mine.code_path or errors_base.code_path,
            not_found_is_empty=bool(errors_mine.not_found_is_empty if errors_mine.not_found_is_empty is not None
                                    else errors_base.not_found_is_empty),
            throttle=throttle.shape() if throttle else None,
            incremental=incremental.shape() if incremental else None,
        )

    def problems(self, stream: StreamApiAttributes | None, *, partitioned: bool, incremental: bool) -> list[str]:
        """What is wrong with a stream's merged shape (``key: message``), for the component to locate."""
        shape = self.stream_shape(stream)
        used = placeholders([shape.request.path, dict(shape.request.query), dict(shape.request.headers),
                             shape.request.body])
        problems = []
        unknown = used - REQUEST_PLACEHOLDERS
        if unknown:
            problems.append(f"request: unknown placeholder(s) {_braced(unknown)}; known: "
                            f"{_braced(REQUEST_PLACEHOLDERS)}")
        if "since" in used:
            problems.append("request: {since} belongs in `incremental` (a full read has no since)")
        if "partition" in used and not partitioned:
            problems.append("request: {partition} needs the stream's partition_field (and the source's sites)")
        if shape.paginator.location == "body" and shape.request.body is not None and \
                not isinstance(shape.request.body, dict):
            problems.append("paginator: paging parameters in the body need a JSON object body")
        if stream is not None and stream.incremental is not None and not incremental:
            problems.append("incremental: needs the stream's change_field (the attribute the mark is taken from)")
        if incremental and shape.incremental is None:
            problems.append("incremental: a stream with a change_field needs `incremental` (how {since} is sent)")
        return problems

    def shape(self, streams: dict[str, StreamApiAttributes | None]) -> DeclarativeApi:
        return DeclarativeApi(display_name=self.name, auth=self.auth.shape(),
                              streams={name: self.stream_shape(own) for name, own in streams.items()})


def _braced(names) -> str:
    return ", ".join("{" + name + "}" for name in sorted(names))
