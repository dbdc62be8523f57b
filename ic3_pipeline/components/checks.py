"""A source's standing check (the per-run sync checks are emitted by its sync step itself)."""

from dagster import AssetCheckResult, AssetChecksDefinition, MetadataValue, asset_check

from ic3_pipeline.components.source import SourceSpec
from ic3_pipeline.markdown import markdown_table
from ic3_pipeline.sync.integrity import inconsistent_assets
from ic3_pipeline.warehouse.resource import WarehouseResource


def build_rows_consistent_check(spec: SourceSpec) -> AssetChecksDefinition:
    versioned = spec.connector.versioned_tables
    tables = ", ".join(f"`{v.table.name}`" for v in versioned)

    @asset_check(
        asset=spec.details_key,
        name=spec.rows_consistent_check,
        description=(
            f"No half-written asset: every asset {spec.source} synced has its rows in {tables} at the asset's "
            "sync_version, and never-synced assets have none of them."
        ),
    )
    def rows_consistent(warehouse: WarehouseResource) -> AssetCheckResult:
        problems = inconsistent_assets(warehouse.engine(), spec.source, versioned)
        return AssetCheckResult(
            passed=not problems,
            metadata={
                "inconsistent assets (first 50)": len(problems),
                "details": MetadataValue.md(
                    markdown_table([{"asset id": a, "rows": w} for a, w in problems], ("asset id", "rows"))
                ),
            },
        )

    return rows_consistent
