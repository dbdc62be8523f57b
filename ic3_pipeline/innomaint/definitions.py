"""Everything Innomaint contributes to the code location: assets, checks, jobs, sensors, schedule, resource."""

from dagster import Definitions, EnvVar

from ic3_pipeline.innomaint.assets import innomaint_enrichment
from ic3_pipeline.innomaint.checks import innomaint_checks
from ic3_pipeline.innomaint.jobs import enrich_job, full_refresh_job, sync_one_asset_job
from ic3_pipeline.innomaint.schedules import innomaint_resync
from ic3_pipeline.innomaint.sensors import innomaint_new_sites, innomaint_retry_failed
from ic3_pipeline.innomaint.resource import TOKEN_ENV, InnomaintResource

# The token only ever as EnvVar: read when a run starts, never stored in run config. The base URL (not a secret) is
# read from INNOMAINT_BASE_URL at run time too, so a launcher may set it after these definitions were imported.
defs = Definitions(
    assets=[innomaint_enrichment],
    asset_checks=innomaint_checks,
    jobs=[enrich_job, full_refresh_job, sync_one_asset_job],
    sensors=[innomaint_new_sites, innomaint_retry_failed],
    schedules=[innomaint_resync],
    resources={"innomaint": InnomaintResource(api_token=EnvVar(TOKEN_ENV))},
)
