"""Innomaint as the engine sees it: one asset-detail call per asset, three tables, state mirrored to the asset master.

Everything generic (due selection, the batch runner, state, logs, checks, Dagster wiring) is the engine's; this is
only what is Innomaint's own: the request (``client``), the parsing (``records``) and the rows it writes (``writer``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection

from ic3_pipeline.connectors.innomaint.client import InnomaintClient
from ic3_pipeline.connectors.innomaint import records
from ic3_pipeline.connectors.innomaint.records import PERIODS, ApiFailure, AssetRecord, MalformedResponse
from ic3_pipeline.connectors.innomaint.writer import write_records
from ic3_pipeline.http_client import HttpPolicy
from ic3_pipeline.sync.connector import (
    Credentials,
    FetchOutcome,
    LandedResponses,
    RecordToWrite,
    TableAsset,
    VersionedTable,
)
from ic3_pipeline.warehouse import tables as warehouse


class InnomaintConnector:
    name = "innomaint"
    display_name = "Innomaint"
    kind = "entity"
    secrets = {"token": "the bearer token of the asset-detail API"}
    mirrors_asset_master = True  # the users' reports read ic3_asset_master's sync columns
    tables = (
        TableAsset(
            "asset_details",
            warehouse.asset_master,
            "Each register asset's Innomaint detail: the landed response (`ic3_innomaint_raw_response`), the CMMS "
            "columns of `ic3_asset_master`, and the `ic3_building` / `ic3_floor_master` / `ic3_department_master` "
            "masters. Per-asset failures are recorded (`ic3_sync_log`, `cmms_sync_state`) and fail the sync-errors check.",
        ),
        TableAsset(
            "asset_performance",
            warehouse.asset_performance,
            "`ic3_asset_performance`: MTTR, MTBF, availability and breakdown hours per asset, as sent (`mttr`) "
            "and typed beside it (`mttr_hours`, `mtbf_hours`, `availability_pct`, …).",
        ),
        TableAsset(
            "workorder_summary",
            warehouse.workorder_summary,
            "`ic3_workorder_summary`: work-order counts and costs per asset, `upto` and `last_year`.",
            rows_per_asset=len(PERIODS),
        ),
    )
    versioned_tables = (
        VersionedTable(warehouse.raw_response, asset_column="cmms_asset_id"),
        VersionedTable(warehouse.asset_performance),
        VersionedTable(warehouse.workorder_summary, rows_per_asset=len(PERIODS)),
    )

    landed = LandedResponses(warehouse.raw_response)

    def open_client(self, base_url: str, credentials: Credentials, policy: HttpPolicy) -> InnomaintClient:
        return InnomaintClient(base_url, credentials.get("token"), policy, token_name=credentials.where("token"))

    def asset_master_values(self, record: AssetRecord) -> Mapping[str, Any]:
        return record.master

    def parse_landed(self, asset_id: str, body: bytes, http_status: int) -> FetchOutcome:
        try:
            record = records.parse_response(body, asset_id)  # looked up now: a patched parser applies
        except (MalformedResponse, ApiFailure) as error:
            return FetchOutcome(asset_id, "error", 0, http_status, body=body, error=f"malformed response: {error}")
        return FetchOutcome(asset_id, "success", 0, http_status, record=record, body=body, warnings=record.warnings)

    def write(self, conn: Connection, items: Sequence[RecordToWrite]) -> None:
        write_records(conn, items)


connector = InnomaintConnector()
