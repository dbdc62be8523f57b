"""Reading Maximo's answers: both JSON forms, the next link, the totals, and the ``Error`` envelope.

``lean=1`` sends plain names (``member``, ``responseInfo.nextPage.href``); without it every name carries a namespace
(``rdfs:member``, ``spi:assetnum``, ``oslc:responseInfo`` with ``oslc:nextPage: {"rdf:resource": …}``). Both become the
plain form here, so the engine sees one shape.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from ic3_pipeline.http_client import RetryableResponse
from ic3_pipeline.sync.streams import CollectionApiError, Page

_PAGE_SIZE_REFUSAL = re.compile(r"page\s*size", re.IGNORECASE)
_COLLECTION_REF = "_collectionref"


def plain_name(name: str) -> str:
    """``spi:assetnum`` → ``assetnum``; ``rdf:about`` (a member's own link) → ``href``."""
    if name == "rdf:about":
        return "href"
    return name.split(":", 1)[1] if ":" in name else name


def plain(value: Any) -> Any:
    """A member (or any nested value) with namespace prefixes removed and collection links dropped."""
    if isinstance(value, dict):
        return {plain_name(k): plain(v) for k, v in value.items()
                if not k.endswith(_COLLECTION_REF) and k not in ("prefixes", "localref")}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def parse_page(response: httpx.Response) -> Page:
    """One answer as a :class:`Page`; the ``Error`` envelope (or a refusal without one) as a clear error."""
    status = response.status_code
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        if status < 300:
            raise RetryableResponse("the body is not JSON (truncated or not Maximo's)") from None
        raise _refusal(status, _snippet(response.text)) from None
    body = plain(body)
    if isinstance(body, dict) and isinstance(body.get("Error"), dict):
        raise _envelope_error(body["Error"], status)
    if status >= 300:
        raise _refusal(status, _snippet(response.text))
    if not isinstance(body, dict):
        raise RetryableResponse("the body is not a JSON object")
    members = body.get("member")
    if members is None:
        members = []
    if not isinstance(members, list) or not all(isinstance(m, dict) for m in members):
        raise RetryableResponse("'member' is not a list of records")
    info = body.get("responseInfo") or {}
    return Page(
        records=members,
        next_url=_next_link(info.get("nextPage"), response.url),
        total_count=_int(info.get("totalCount", body.get("totalCount"))),
        total_pages=_int(info.get("totalPages", body.get("totalPages"))),
    )


def _next_link(next_page: Any, answered: httpx.URL) -> str | None:
    """The next page's URL: relative ones stay relative to the context root (the client's base URL); a path from
    the server's root is made absolute on the server that answered."""
    if isinstance(next_page, dict):
        next_page = next_page.get("href") or next_page.get("resource")
    if not isinstance(next_page, str) or not next_page.strip():
        return None
    link = next_page.strip()
    if link.startswith("/"):
        return str(answered.copy_with(raw_path=link.encode("ascii"), fragment=None))
    return link


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _envelope_error(error: dict[str, Any], status: int) -> CollectionApiError:
    code = str(error.get("reasonCode") or "").strip()
    message = str(error.get("message") or "").strip() or "no message"
    try:
        status = int(str(error.get("statusCode") or status))
    except ValueError:
        pass
    text = f"Maximo refused the request (HTTP {status}{', ' + code if code and code not in message else ''}): {message}"
    return CollectionApiError(text, status=status, page_too_large=status == 400 and bool(_PAGE_SIZE_REFUSAL.search(message)),
                              auth=status in (401, 403))


def _refusal(status: int, text: str) -> CollectionApiError:
    return CollectionApiError(f"Maximo answered HTTP {status}: {text or '(empty body)'}", status=status,
                              auth=status in (401, 403))


def _snippet(text: str, limit: int = 200) -> str:
    return " ".join(text.split())[:limit]
