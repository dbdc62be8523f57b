"""Every auth kind declared in YAML, against the test API checking it for real: bearer, API key in a header and in
the query, HTTP basic, a session login (logged in again at expiry and on a 401), an HMAC-signed URL (signed anew on
every attempt), OAuth2 client credentials (the token reused, fetched again when it expires); refused credentials
stop the stream with a message naming no secret."""

from __future__ import annotations

import logging
import time

import pytest

from ic3_pipeline.sync.collection_sync import StreamFailed
from ic3_pipeline.sync.connector import Credentials
from ic3_pipeline.sync.streams import CollectionApiError
from ic3_pipeline_tests.declarative.conftest import served, source_spec, stored_ids, sync
from ic3_pipeline_tests.declarative.server import SECRET, USER, FakeConfig, record

ALL = sorted(record(i)["id"] for i in range(23))

STREAM = """
  paginator: {type: offset, limit_param: limit, offset_param: offset}
  records: results
  errors: {message_path: message, not_found_is_empty: true}
streams:
  - name: items
    resource: /offset/items
    key: [id]
"""

AUTH = {
    "bearer": "{kind: bearer, token_env: FAKE_TOKEN}",
    "api_key_header": "{kind: api_key, key_env: FAKE_KEY, header: X-API-Key}",
    "api_key_query": "{kind: api_key, key_env: FAKE_KEY, location: query, param: api_key}",
    "basic": "{kind: basic, user_env: FAKE_USER, password_env: FAKE_PASSWORD}",
    "session": """
    kind: session
    user_env: FAKE_USER
    password_env: FAKE_PASSWORD
    login: {method: POST, path: /auth, body: {email: "{user}", password: "{password}"}}
    token_path: result.sessionToken
    expires_at_path: result.expiresAt
    header: Session-Token
    renew_before_s: 0""",
    "hmac": """
    kind: hmac_signed_url
    app_key_env: FAKE_APP_KEY
    access_key_env: FAKE_ACCESS_KEY
    secret_key_env: FAKE_SECRET_KEY
    params: {signatureMethod: HmacSHA256, signatureVersion: "1"}""",
    "oauth2": """
    kind: oauth2_client_credentials
    client_id_env: FAKE_CLIENT_ID
    client_secret_env: FAKE_CLIENT_SECRET
    token_url: /oauth/token
    renew_before_s: 0""",
}
SECRETS = {
    "bearer": {"token": SECRET}, "api_key_header": {"api_key": SECRET}, "api_key_query": {"api_key": SECRET},
    "basic": {"user": USER, "password": SECRET}, "session": {"user": USER, "password": SECRET},
    "hmac": {"app_key": "app-1", "access_key": "access-1", "secret_key": SECRET},
    "oauth2": {"client_id": USER, "client_secret": SECRET},
}


def spec_for(kind: str):
    auth = AUTH[kind]
    block = f"  auth: {auth}\n" if auth.startswith("{") else f"  auth:{auth}\n"
    return source_spec(f"source: fake\nbase_url: http://unused.invalid\napi:\n  name: Fake CMMS\n{block}{STREAM}")


@pytest.fixture
def server(request):
    api = served(FakeConfig(auth=request.param, session_ttl_s=getattr(request, "ttl", 3600.0)))
    yield api
    api.stop()


@pytest.mark.parametrize("server", list(AUTH), indirect=True)
def test_each_auth_kind_reads_everything(server, sqlite_engine):
    kind = server.config.auth
    spec = spec_for(kind)
    synced = sync(spec, "items", server.base_url, sqlite_engine, SECRETS[kind], page_size=5)
    assert stored_ids(sqlite_engine, "fake_items") == ALL
    assert server.counters.refused == 0
    assert server.counters.logins + server.counters.token_requests == (1 if kind in ("session", "oauth2") else 0)
    assert synced.report.pages == 5


@pytest.mark.parametrize("server", list(AUTH), indirect=True)
def test_a_wrong_secret_stops_the_stream_as_an_auth_failure_without_the_secret(server, sqlite_engine):
    kind = server.config.auth
    wrong = {role: ("wrong-" + value if value == SECRET else value) for role, value in SECRETS[kind].items()}
    with pytest.raises(StreamFailed) as failed:
        sync(spec_for(kind), "items", server.base_url, sqlite_engine, wrong)
    assert failed.value.auth
    assert "401" in str(failed.value) and SECRET not in str(failed.value)


def test_missing_secrets_name_the_variables_to_set():
    connector = spec_for("hmac").connector
    credentials = Credentials({"app_key": "app-1"}, {"app_key": "FAKE_APP_KEY", "access_key": "FAKE_ACCESS_KEY",
                                                     "secret_key": "FAKE_SECRET_KEY"})
    with pytest.raises(CollectionApiError) as missing:
        connector.headers(credentials)
    assert str(missing.value) == "No Fake CMMS credentials: set FAKE_ACCESS_KEY and FAKE_SECRET_KEY in the environment."


def test_a_session_is_opened_once_and_again_when_the_api_answers_401(sqlite_engine):
    api = served(FakeConfig(auth="session"))
    try:
        spec = spec_for("session")
        first = sync(spec, "items", api.base_url, sqlite_engine, SECRETS["session"], page_size=5)
        assert api.counters.logins == 1
        api.revoke_sessions()  # the API forgot the session: the next call is answered 401
        sync(spec, "items", api.base_url, sqlite_engine, SECRETS["session"], page_size=5, auth=first.auth)
        assert api.counters.logins == 2 and api.counters.refused == 1
        assert stored_ids(sqlite_engine, "fake_items") == ALL
    finally:
        api.stop()


def test_a_session_is_opened_again_when_it_expires(sqlite_engine):
    api = served(FakeConfig(auth="session", session_ttl_s=1.0))
    try:
        spec = spec_for("session")
        first = sync(spec, "items", api.base_url, sqlite_engine, SECRETS["session"], page_size=50)
        assert api.counters.logins == 1
        time.sleep(1.2)  # past expiresAt: the client logs in again before asking (no 401 needed)
        sync(spec, "items", api.base_url, sqlite_engine, SECRETS["session"], page_size=50, auth=first.auth)
        assert api.counters.logins == 2 and api.counters.refused == 0
    finally:
        api.stop()


def test_an_oauth2_token_is_reused_until_it_expires_then_fetched_again(sqlite_engine):
    api = served(FakeConfig(auth="oauth2", oauth_ttl_s=1))
    try:
        spec = spec_for("oauth2")
        first = sync(spec, "items", api.base_url, sqlite_engine, SECRETS["oauth2"], page_size=5)
        assert api.counters.token_requests == 1 and api.counters.data_calls == 5  # one token for five calls
        time.sleep(1.2)
        sync(spec, "items", api.base_url, sqlite_engine, SECRETS["oauth2"], page_size=5, auth=first.auth)
        assert api.counters.token_requests == 2 and api.counters.refused == 0
    finally:
        api.stop()


def test_the_signed_url_carries_keys_timestamp_and_the_signature_of_the_url_without_scheme(sqlite_engine):
    api = served(FakeConfig(auth="hmac"))
    try:
        sync(spec_for("hmac"), "items", api.base_url, sqlite_engine, SECRETS["hmac"], page_size=50)
        query = api.counters.queries[0]
        assert query.startswith("limit=50&offset=0&appKey=app-1&accessKey=access-1&signatureMethod=HmacSHA256"
                                "&signatureVersion=1&timestamp=")
        assert api.counters.refused == 0  # the server recomputed every signature
    finally:
        api.stop()


@pytest.mark.parametrize("server", list(AUTH), indirect=True)
def test_no_secret_in_any_log_record_even_at_debug(server, sqlite_engine, caplog):
    kind = server.config.auth
    caplog.set_level(logging.DEBUG)  # every logger, httpx's request lines included
    sync(spec_for(kind), "items", server.base_url, sqlite_engine, SECRETS[kind], page_size=5)
    wrong = {role: ("wrong-" + value if value == SECRET else value) for role, value in SECRETS[kind].items()}
    with pytest.raises(StreamFailed):
        sync(spec_for(kind), "items", server.base_url, sqlite_engine, wrong)
    assert caplog.records, "nothing was logged: the test would prove nothing"
    leaked = [record.getMessage() for record in caplog.records if SECRET in record.getMessage()]
    assert leaked == []


def test_an_oauth2_token_the_api_forgot_is_fetched_again_on_401(sqlite_engine):
    api = served(FakeConfig(auth="oauth2"))
    try:
        spec = spec_for("oauth2")
        first = sync(spec, "items", api.base_url, sqlite_engine, SECRETS["oauth2"], page_size=50)
        api.revoke_sessions()
        sync(spec, "items", api.base_url, sqlite_engine, SECRETS["oauth2"], page_size=50, auth=first.auth)
        assert api.counters.token_requests == 2 and api.counters.refused == 1
        assert stored_ids(sqlite_engine, "fake_items") == ALL
    finally:
        api.stop()
