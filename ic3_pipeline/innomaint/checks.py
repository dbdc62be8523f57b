"""Standing checks on the Innomaint tables (the per-run sync checks are emitted by the enrichment step itself)."""

from dagster import AssetCheckResult, MetadataValue, asset_check

from ic3_pipeline.innomaint.assets import DETAILS
from ic3_pipeline.innomaint.integrity import inconsistent_assets
from ic3_pipeline.markdown import markdown_table
from ic3_pipeline.warehouse.resource import WarehouseResource


@asset_check(
    asset=DETAILS,
    name="innomaint_rows_consistent",
    description=(
        "No half-written asset: every synced asset's landed response, performance row and both work-order rows carry "
        "the asset's sync_version, and never-synced assets have none of them."
    ),
)
def innomaint_rows_consistent(warehouse: WarehouseResource) -> AssetCheckResult:
    problems = inconsistent_assets(warehouse.engine())
    return AssetCheckResult(
        passed=not problems,
        metadata={
            "inconsistent assets (first 50)": len(problems),
            "details": MetadataValue.md(
                markdown_table([{"asset id": a, "rows": w} for a, w in problems], ("asset id", "rows"))
            ),
        },
    )


innomaint_checks = [innomaint_rows_consistent]
