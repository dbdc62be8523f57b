"""What a stream with a ``unified:`` mapping adds to its Dagster asset: a check naming the records its mapping could
not convert (``cmms_mapping_error``), and the unified figures in the run's metadata.

A record that cannot be mapped never fails the sync (its raw row is written, the rest of the page maps on); the
check is where a person sees it, with the field, the value and why, and fixes the mapping or the source.
"""

from __future__ import annotations

from collections.abc import Sequence

from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, MetadataValue
from sqlalchemy import Engine, func, select

from ic3_pipeline.markdown import markdown_table
from ic3_pipeline.sync.streams import StreamReport, StreamSpec
from ic3_pipeline.warehouse.unified_tables import mapping_error

SHOWN = 50


def mapping_check(stream: StreamSpec) -> str:
    return f"{stream.name}_maps_to_unified"


def mapping_check_spec(stream: StreamSpec, asset_key, table: str) -> AssetCheckSpec:
    return AssetCheckSpec(mapping_check(stream), asset=asset_key, description=(
        f"Every record of `{table}` converts into `{stream.mapping.table}`; one that does not is left out of it "
        "(never half a row) and listed in `cmms_mapping_error` with the field, the value and why — this check names "
        "those records."))


def mapping_check_result(engine: Engine, source: str, stream: StreamSpec, asset_key) -> AssetCheckResult:
    where = (mapping_error.c.source == source, mapping_error.c.stream == stream.name)
    with engine.connect() as conn:
        records = conn.execute(select(func.count(func.distinct(mapping_error.c.record_key))).where(*where)).scalar_one()
        shown = conn.execute(select(mapping_error.c.record_key, mapping_error.c.field, mapping_error.c.value,
                                    mapping_error.c.transform, mapping_error.c.message)
                             .where(*where).order_by(mapping_error.c.record_key, mapping_error.c.field)
                             .limit(SHOWN)).all()
    rows = [{"record": r.record_key, "field": r.field, "value": r.value, "transform": r.transform,
             "why": r.message} for r in shown]
    return AssetCheckResult(
        check_name=mapping_check(stream), asset_key=asset_key, passed=records == 0,
        severity=AssetCheckSeverity.WARN,
        description=(f"{records} record(s) could not be mapped to {stream.mapping.table} (see cmms_mapping_error): "
                     + "; ".join(f"{r['record']} {r['field']}: {r['why']}" for r in rows[:3])) if records else None,
        metadata={"records not mapped": records,
                  "problems": MetadataValue.md(markdown_table(rows, ("record", "field", "value", "transform", "why")))},
    )


def unified_metadata(stream: StreamSpec, reports: Sequence[StreamReport]) -> dict[str, object]:
    """The run's unified figures (nothing for a stream without a mapping)."""
    if stream.mapping is None:
        return {}
    return {f"rows written to {stream.mapping.table}": sum(r.unified_rows for r in reports),
            "records not mapped (cmms_mapping_error)": sum(r.mapping_failed for r in reports)}
