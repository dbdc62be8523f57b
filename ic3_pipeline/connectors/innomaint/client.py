"""The Innomaint asset-detail client: one call per asset, every outcome classified, never an exception per asset.

Built on the shared HTTP layer (rate limiting, retries, timeouts). What it adds is Innomaint's meaning: 404 is "not in
the CMMS" (final), 401/403 is a bad token (systemic: stop the whole batch), a 200 whose body is truncated or says
``status: false`` is retried like a 5xx, and a body that parses but carries wrong values fails that asset, naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from ic3_pipeline.connectors.innomaint.records import (
    ApiFailure,
    AssetRecord,
    MalformedResponse,
    parse_asset_detail,
    parse_body,
)
from ic3_pipeline.http_client import HttpCallFailed, HttpPolicy, ResilientClient, RetryableResponse
from ic3_pipeline.sync.connector import AuthenticationFailed, FetchOutcome

API_PATH = "/api/public/api/restapicontroller/assetmanagement/getAssetIDDetailByAssetID"


@dataclass
class _Answer:
    status: int
    body: bytes
    record: AssetRecord | None = None
    problem: str | None = None


class InnomaintClient:
    """Async client for ``getAssetIDDetailByAssetID``; share one instance across a batch so it shares the limiter."""

    def __init__(self, base_url: str, token: str, policy: HttpPolicy | None = None, *, token_name: str = "the API token"):
        if not token:
            raise AuthenticationFailed(f"No Innomaint API token: set {token_name} in the environment.")
        self._token_name = token_name
        self.http = ResilientClient(
            base_url,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            policy=policy or HttpPolicy(),
        )

    async def __aenter__(self) -> InnomaintClient:
        await self.http.__aenter__()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.http.__aexit__(*exc_info)

    async def fetch(self, asset_id: str) -> FetchOutcome:
        """Fetch and parse one asset. Raises only :class:`AuthenticationFailed`."""
        try:
            answer, attempts = await self.http.send_counted(
                "POST", API_PATH, json={"serialnumber": asset_id}, accept=lambda r: self._accept(r, asset_id)
            )
        except HttpCallFailed as failed:
            return FetchOutcome(asset_id, "error", failed.attempts, failed.status, error=failed.reason, transient=True)
        if answer.status == 404:
            return FetchOutcome(asset_id, "not_found", attempts, 404, error="not found in Innomaint (HTTP 404)")
        if answer.problem is not None:
            return FetchOutcome(asset_id, "error", attempts, answer.status, body=answer.body, error=answer.problem)
        return FetchOutcome(asset_id, "success", attempts, answer.status, record=answer.record, body=answer.body,
                            warnings=answer.record.warnings)

    def _accept(self, response: httpx.Response, asset_id: str) -> _Answer:
        status = response.status_code
        if status in (401, 403):
            raise AuthenticationFailed(f"Innomaint refused the API token (HTTP {status}): check {self._token_name}.")
        body = response.content
        if status == 404:
            return _Answer(status, body)
        if status != 200:
            return _Answer(status, body, problem=f"unexpected HTTP {status}: {_snippet(body)}")
        try:
            document = parse_body(body)
        except MalformedResponse as error:  # truncated or garbled in transit: another attempt usually succeeds
            raise RetryableResponse(str(error)) from None
        try:
            return _Answer(status, body, record=parse_asset_detail(document, asset_id))
        except ApiFailure as error:  # the API's own transient failure inside a 200
            raise RetryableResponse(str(error)) from None
        except MalformedResponse as error:  # well-formed JSON with wrong values: retrying gives the same answer
            return _Answer(status, body, problem=f"malformed response: {error}")


def _snippet(body: bytes, limit: int = 120) -> str:
    return body[:limit].decode("utf-8", errors="replace").replace("\n", " ")
