"""Local stand-ins for where notifications go: an HTTP receiver (a webhook, and Slack's Web API) and an SMTP server.

Test equipment, written from the formats themselves (a JSON POST; Slack's ``chat.postMessage`` answering
``{"ok": true}``; SMTP via aiosmtpd), never from the project's channel code. Both record everything received and
have a knob to refuse it.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict
    raw: str


class HttpReceiver:
    """Records every POST. ``status``: the HTTP status to answer (e.g. 503 to refuse); ``slack_error``: a Slack API
    error to answer with (``{"ok": false, "error": ...}``)."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.status = 200
        self.slack_error: str | None = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 — http.server's name
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                if "json" in (self.headers.get("Content-Type") or ""):
                    body = json.loads(raw)
                else:
                    body = {k: v[0] for k, v in parse_qs(raw).items()}
                if receiver.status != 200:
                    self.send_response(receiver.status)
                    self.end_headers()
                    return
                receiver.requests.append(Received(self.path, dict(self.headers.items()), body, raw))
                answer = {"ok": False, "error": receiver.slack_error} if receiver.slack_error else {"ok": True}
                if self.path.endswith("chat.postMessage") and not receiver.slack_error:
                    answer.update(channel=body.get("channel"), ts="1700000000.000100")
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def posted_to(self, suffix: str) -> list[Received]:
        return [r for r in self.requests if r.path.endswith(suffix)]

    def __enter__(self) -> HttpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class _Mailbox:
    messages: list[Message] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 — aiosmtpd's hook name
        self.messages.append(message_from_bytes(envelope.original_content, policy=policy.default))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


class _PortZeroController(Controller):
    """aiosmtpd binds the port it is given; bound to port 0, it must learn its real port before probing itself."""

    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        return super()._trigger_server()


class SmtpServer:
    """An SMTP server on 127.0.0.1 (port 0) that accepts mail, and a login with ``user``/``password`` when given."""

    def __init__(self, user: str | None = None, password: str | None = None) -> None:
        self.mailbox = _Mailbox()
        self._credentials = (user, password)
        auth = {"authenticator": self._authenticate, "auth_require_tls": False} if user else {}
        self._controller = _PortZeroController(self.mailbox, hostname="127.0.0.1", port=0, **auth)

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login.decode(), auth_data.password.decode()) == self._credentials
        if ok:
            self.mailbox.logins.append(auth_data.login.decode())
        return AuthResult(success=ok)

    @property
    def port(self) -> int:
        return self._controller.port

    @property
    def messages(self) -> list[Message]:
        return self.mailbox.messages

    def __enter__(self) -> SmtpServer:
        self._controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self._controller.stop()
