"""The write-back: for the assets an alert names now, one work order per asset per episode in its source CMMS.

One call is one evaluation of the alert. In a transaction it ends the episodes of assets that pass again, starts
one for each asset failing for the first time, and decides per open episode: nothing to do (a work order created -
its id stored), or a request to make (new, failed before, or only dry-run so far). Dry-run records and logs the
request it would send and sends nothing. Live marks each row ``sending`` (committed) before its POST and records the
answer after it, so a crash between the two leaves ``sending``, which is never re-sent (the CMMS may hold the work
order): at most one per episode. A refusal (401, 500, a connection that failed) is recorded ``failed`` with the
CMMS's message and retried by the next evaluation. One POST per work order, never retried within a run: creating is
not idempotent, and a 5xx may come after the CMMS saved the record.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import Engine

from ic3_pipeline.http_client.auth import join_url
from ic3_pipeline.sync.connector import Credentials
from ic3_pipeline.writeback import episodes
from ic3_pipeline.writeback.requests import AlertedAsset, RequestRefused, Target, WorkOrderRequest
from ic3_pipeline.writeback.shapes import shape_for
from ic3_pipeline.writeback.targets import find_target

logger = logging.getLogger(__name__)
TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Outcome:
    """What this evaluation did for one alerted asset."""

    cmms_asset_id: str
    site: str
    status: str  # would_create | created | already_created | failed | skipped | sending (outcome unknown)
    source: str | None = None
    source_asset_id: str | None = None
    work_order_id: str | None = None
    message: str | None = None
    request: dict[str, Any] | None = None
    episode_started_at: datetime | None = None

    def row(self) -> dict[str, Any]:
        """For a metadata table: never credentials (a request holds none)."""
        return {"asset": self.cmms_asset_id, "site": self.site, "status": self.status, "source": self.source or "",
                "cmms asset": self.source_asset_id or "", "work order": self.work_order_id or "",
                "message": self.message or ""}


@dataclass
class WriteBackReport:
    live: bool
    outcomes: list[Outcome] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)  # cmms_asset_ids whose episode ended now

    def count(self, status: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status == status)


@dataclass(frozen=True)
class _Answer:
    """What one POST came to: accepted (with the id, when the answer named it) or not, and why."""

    accepted: bool
    work_order_id: str | None = None
    url: str | None = None
    message: str | None = None


@dataclass
class _Pending:
    asset: AlertedAsset
    row_id: int
    status: str
    started: datetime
    target: Target
    request: WorkOrderRequest


def write_back(engine: Engine, alert: str, assets: Sequence[AlertedAsset], now: datetime, *, live: bool,
               sources: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None,
               log: Any = None) -> WriteBackReport:
    """Evaluate ``alert`` failing for ``assets`` now. ``sources``: source name -> its ``CollectionSourceSpec``
    (base URL, secrets' variables, connector); needed only live. ``log``: a logger (Dagster's ``context.log``)."""
    log = log or logger
    env = os.environ if env is None else env
    report = WriteBackReport(live)
    pending: list[_Pending] = []
    failing = {asset.asset_id: asset for asset in assets}
    with engine.begin() as conn:
        for row in episodes.close_recovered(conn, alert, failing, now):
            report.recovered.append(row["cmms_asset_id"])
            log.info(f"{alert}: {row['cmms_asset_id']} passes again; its episode since "
                     f"{row['episode_started_at']} ended")
        open_rows = episodes.open_episodes(conn, alert)
        for asset in assets:
            row = open_rows.get(asset.asset_id)
            if row is None:
                row = episodes.start_episode(conn, alert, asset.asset_id, asset.cmms_asset_id, now, not live)
            started = row["episode_started_at"]
            base = {"cmms_asset_id": asset.cmms_asset_id, "site": asset.site, "episode_started_at": started,
                    "source": row.get("source"), "source_asset_id": row.get("source_asset_id")}
            if row["status"] == episodes.CREATED:
                report.outcomes.append(Outcome(**base, status="already_created", work_order_id=row["work_order_id"]))
                continue
            if row["status"] == episodes.SENDING:
                message = ("a POST was sent but its answer never recorded (the process stopped): check the CMMS "
                           "for the work order, then set this row's status to 'created' (with its id) or 'failed'")
                log.warning(f"{alert}: {asset.cmms_asset_id}: {message}")
                report.outcomes.append(Outcome(**base, status=episodes.SENDING, message=message))
                continue
            target, why_not = find_target(conn, asset.asset_id)
            if target is None:
                episodes.record(conn, row["id"], now, status=episodes.SKIPPED, message=why_not, source=None,
                                source_asset_id=None, dry_run=not live)
                log.info(f"{alert}: {asset.cmms_asset_id}: no work order raised: {why_not}")
                report.outcomes.append(Outcome(**{**base, "source": None, "source_asset_id": None},
                                               status=episodes.SKIPPED, message=why_not))
                continue
            base.update(source=target.source, source_asset_id=target.source_asset_id)
            shape = shape_for(target.source)
            try:
                request = shape.build(asset, target)
            except RequestRefused as error:
                episodes.record(conn, row["id"], now, status=episodes.FAILED, message=str(error),
                                source=target.source, source_asset_id=target.source_asset_id, dry_run=not live)
                log.warning(f"{alert}: {asset.cmms_asset_id}: {error}")
                report.outcomes.append(Outcome(**base, status=episodes.FAILED, message=str(error)))
                continue
            body = json.dumps(request.json, sort_keys=True)
            episodes.record(conn, row["id"], now, source=target.source, source_asset_id=target.source_asset_id,
                            request=body)
            if not live:
                episodes.record(conn, row["id"], now, status=episodes.WOULD_CREATE, dry_run=True, message=None)
                log.info(f"{alert}: dry run: would create a work order in {target.source} for {asset.cmms_asset_id} "
                         f"({target.source_asset_id}): POST {request.path} {body}")
                report.outcomes.append(Outcome(**base, status=episodes.WOULD_CREATE, request=request.json))
                continue
            pending.append(_Pending(asset, row["id"], row["status"], started, target, request))
    if pending:
        _send_all(engine, alert, pending, now, sources or {}, env, report, log)
    return report


def _send_all(engine: Engine, alert: str, pending: list[_Pending], now: datetime, sources: Mapping[str, Any],
              env: Mapping[str, str], report: WriteBackReport, log: Any) -> None:
    with engine.begin() as conn:
        claimed = [item for item in pending if episodes.claim_for_sending(conn, item.row_id, item.status, now)]
    by_source: dict[str, list[_Pending]] = {}
    for item in claimed:
        by_source.setdefault(item.target.source, []).append(item)
    for source, items in sorted(by_source.items()):
        answers = asyncio.run(_send_source(source, sources.get(source), items, env))
        with engine.begin() as conn:
            for item, answer in zip(items, answers, strict=True):
                work_order_id, message = answer.work_order_id, answer.message
                base = {"cmms_asset_id": item.asset.cmms_asset_id, "site": item.asset.site, "source": source,
                        "source_asset_id": item.target.source_asset_id, "episode_started_at": item.started,
                        "request": item.request.json}
                if answer.accepted:  # created, even when the answer named no id: never sent again
                    episodes.record(conn, item.row_id, now, status=episodes.CREATED, work_order_id=work_order_id,
                                    work_order_url=answer.url, created_at=now, message=message)
                    log.info(f"{alert}: created work order {work_order_id} in {source} for "
                             f"{item.asset.cmms_asset_id} ({item.target.source_asset_id})")
                    report.outcomes.append(Outcome(**base, status=episodes.CREATED, work_order_id=work_order_id,
                                                   message=message))
                else:
                    episodes.record(conn, item.row_id, now, status=episodes.FAILED, message=message)
                    log.warning(f"{alert}: work order for {item.asset.cmms_asset_id} in {source} not created "
                                f"(retried at the next evaluation): {message}")
                    report.outcomes.append(Outcome(**base, status=episodes.FAILED, message=message))


async def _send_source(source: str, spec: Any, items: list[_Pending],
                       env: Mapping[str, str]) -> list[_Answer]:
    """One answer per item, in order."""
    if spec is None:
        message = f"source {source!r} is not configured (no defs/{source}/defs.yaml)"
        return [_Answer(False, message=message)] * len(items)
    base_url = spec.base_url or (env.get(spec.base_url_env) if spec.base_url_env else None)
    if not base_url:
        return [_Answer(False, message=f"no base URL for {source}: set {spec.base_url_env} in the environment")] \
            * len(items)
    credentials = Credentials({name: env.get(variable, "") for name, variable in spec.secrets.items()},
                              dict(spec.secrets))
    secrets = [value for value in credentials.values.values() if value]
    connector = spec.connector
    try:
        headers = connector.headers(credentials)
        auth_of = getattr(connector, "auth", None)
        auth = auth_of(credentials, base_url) if auth_of else None
    except Exception as error:  # missing credentials: the connector's message names the variables, not values
        return [_Answer(False, message=_masked(str(error), secrets))] * len(items)
    shape = shape_for(source)
    answers = []
    async with httpx.AsyncClient(headers=headers, auth=auth, timeout=TIMEOUT_S) as client:
        for item in items:
            request = item.request
            try:
                response = await client.post(join_url(base_url, request.path), params=dict(request.params),
                                             json=request.json, headers=dict(request.headers))
                if response.status_code in (200, 201):
                    work_order_id, url = shape.created(response)
                    answers.append(_Answer(True, work_order_id, url, None if work_order_id else (
                        f"created (HTTP {response.status_code}) but the answer named no id: find it in {source}")))
                else:
                    answers.append(_Answer(False, message=_masked(
                        f"HTTP {response.status_code}: {shape.refusal(response)}", secrets)))
            except httpx.HTTPError as error:
                answers.append(_Answer(False, message=f"{type(error).__name__}: the request to {source} failed"))
            except Exception as error:  # a login refused (AuthRefused), an answer without an id
                answers.append(_Answer(False, message=_masked(str(error) or type(error).__name__, secrets)))
    return answers


def _masked(message: str, secrets: Sequence[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        message = message.replace(secret, "***")
    return message
