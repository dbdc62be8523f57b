"""Asset checks on the imported register: what the rest of the pipeline assumes about ``ic3_asset_master``."""

from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check
from sqlalchemy import func, select

from ic3_pipeline.register.columns import ALLOWED_CRITICALITY
from ic3_pipeline.warehouse import tables
from ic3_pipeline.warehouse.resource import WarehouseResource

SAMPLE = 20
asset = tables.asset_master


def _ids_markdown(ids: list[str]) -> MetadataValue:
    return MetadataValue.md("\n".join(f"- `{i}`" for i in ids[:SAMPLE]) or "_none_")


@asset_check(
    asset="asset_register",
    name="asset_ids_unique",
    description="Every asset id appears once, also when compared ignoring case and surrounding spaces.",
)
def asset_ids_unique(warehouse: WarehouseResource) -> AssetCheckResult:
    folded = func.lower(func.trim(asset.c.cmms_asset_id))
    query = select(folded, func.count()).group_by(folded).having(func.count() > 1)
    with warehouse.engine().connect() as conn:
        clashes = [row[0] for row in conn.execute(query)]
    return AssetCheckResult(
        passed=not clashes,
        severity=AssetCheckSeverity.WARN,
        metadata={"clashing ids": len(clashes), "examples": _ids_markdown(clashes)},
        description=None if not clashes else f"{len(clashes)} ids differ only by case or spaces",
    )


@asset_check(
    asset="asset_register",
    name="assets_have_site",
    description="Every asset belongs to a site (its enrichment partition); an asset without one would never be synced.",
)
def assets_have_site(warehouse: WarehouseResource) -> AssetCheckResult:
    query = select(asset.c.cmms_asset_id).where(asset.c.location_id.is_(None)).order_by(asset.c.cmms_asset_id)
    with warehouse.engine().connect() as conn:
        orphans = list(conn.execute(query).scalars())
    return AssetCheckResult(
        passed=not orphans,
        metadata={"assets without a site": len(orphans), "examples": _ids_markdown(orphans)},
    )


@asset_check(
    asset="asset_register",
    name="criticality_allowed",
    description=f"Criticality is one of {', '.join(ALLOWED_CRITICALITY)} (or not set). The import refuses any other "
    "value; this check catches those written another way (an earlier release, a CMMS sync, a hand edit).",
)
def criticality_allowed(warehouse: WarehouseResource) -> AssetCheckResult:
    query = (
        select(asset.c.criticality, func.count())
        .where(asset.c.criticality.is_not(None), asset.c.criticality.not_in(ALLOWED_CRITICALITY))
        .group_by(asset.c.criticality)
    )
    with warehouse.engine().connect() as conn:
        bad = dict(conn.execute(query).all())
    return AssetCheckResult(
        passed=not bad,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "assets with other values": sum(bad.values()),
            "values": MetadataValue.md("\n".join(f"- `{v}`: {n}" for v, n in sorted(bad.items())) or "_none_"),
        },
    )


register_checks = [asset_ids_unique, assets_have_site, criticality_allowed]
