"""The ``asset_register`` asset: an Excel register imported into ``ic3_asset_master`` and the name-resolved masters."""

from sqlalchemy.exc import DBAPIError

from dagster import AssetExecutionContext, Config, Failure, MaterializeResult, MetadataValue, asset

from ic3_pipeline.markdown import markdown_table
from ic3_pipeline.register.importer import import_register
from ic3_pipeline.register.location import RegisterNotFound, resolve_register_path
from ic3_pipeline.register.partitions import register_site_partitions
from ic3_pipeline.register.problems import RegisterRejected
from ic3_pipeline.warehouse import database_error_line, tables
from ic3_pipeline.warehouse.dagster_metadata import definition_metadata, table_metadata
from ic3_pipeline.warehouse.resource import WarehouseResource, warehouse_kind

PREVIEW_COLUMNS = ("cmms_asset_id", "asset_name", "site_name", "customer_name", "category_name", "criticality")


class RegisterImportConfig(Config):
    """Which file to import. Leave ``path`` empty to take the newest .xlsx in ``IC3_REGISTER_DIR``."""

    path: str | None = None
    sheet: str | None = None


@asset(
    name="asset_register",
    group_name="register",
    kinds={"excel", warehouse_kind()},
    owners=["team:maintenance-data"],
    tags={"source": "excel"},
    metadata=definition_metadata(tables.asset_master),
    description=(
        "The maintenance team's Excel asset register, validated and upserted into `ic3_asset_master` and the "
        "customer / location / category / group / manufacturer masters in one transaction. A refused file changes "
        "nothing; the failure lists each problem with its sheet, row and column."
    ),
)
def asset_register(
    context: AssetExecutionContext, config: RegisterImportConfig, warehouse: WarehouseResource
) -> MaterializeResult:
    try:
        path = resolve_register_path(config.path)
    except RegisterNotFound as error:
        raise Failure(description=str(error), allow_retries=False) from None
    context.log.info(f"Importing register {path} into {warehouse.describe()}")
    engine = warehouse.engine()
    try:
        summary, validated = import_register(engine, path, sheet=config.sheet)
    except RegisterRejected as rejected:
        context.log.error(rejected.describe())
        raise Failure(
            description=rejected.describe(),
            metadata={
                "file": str(path),
                "problems": rejected.total,
                "first problems": MetadataValue.md("\n".join(f"- {p}" for p in rejected.problems)),
            },
            allow_retries=False,
        ) from None
    except DBAPIError as error:  # locked SQLite file, lost connection: the transaction rolled back, nothing written
        raise Failure(description=f"Database error, nothing was imported: {database_error_line(error)}") from None
    added = register_site_partitions(context.instance, summary.site_partition_keys)
    context.log.info(
        f"Imported {summary.rows_read} rows from sheet '{validated.sheet.sheet_name}': {summary.inserted} inserted, "
        f"{summary.updated} updated, {summary.unchanged} unchanged; {summary.sites} sites ({len(added)} new partitions)"
    )
    if summary.missing_from_register:
        context.log.warning(
            f"{summary.missing_from_register} assets in the database are not in this register (kept, not deleted)"
        )
    with engine.connect() as conn:
        table_info = table_metadata(conn, tables.asset_master)
    return MaterializeResult(
        metadata={
            **table_info,
            "file": str(path),
            "sheet": validated.sheet.sheet_name,
            "rows read": summary.rows_read,
            "inserted": summary.inserted,
            "updated": summary.updated,
            "unchanged": summary.unchanged,
            "blank rows skipped": summary.blank_rows,
            "sites": summary.sites,
            "new site partitions": len(added),
            "new sites": MetadataValue.md("\n".join(f"- {site}" for site in summary.new_sites[:20]) or "_none_"),
            "missing from register": summary.missing_from_register,
            "missing ids (sample)": MetadataValue.md(
                "\n".join(f"- `{i}`" for i in summary.missing_sample) or "_none_"
            ),
            "ignored columns": ", ".join(validated.sheet.match.ignored) or "none",
            "preview": MetadataValue.md(markdown_table(summary.preview, PREVIEW_COLUMNS, empty="_no changed rows_")),
        }
    )
