"""The Innomaint source as the tests build it: the project's own defs.yaml, with a test API resource."""

from __future__ import annotations

from dataclasses import replace

from dagster import Definitions

from ic3_pipeline.cli.scopes import find_source
from ic3_pipeline.components.catalog import configured_sources
from ic3_pipeline.components.connection import source_definitions
from ic3_pipeline.components.resource import CmmsApiResource
from ic3_pipeline.components.source import SourceSpec
from ic3_pipeline.sync.integrity import inconsistent_assets
from ic3_pipeline.warehouse.resource import WarehouseResource

TEST_HTTP = {"initial_rate_per_s": 50.0, "timeout_s": 2.0, "max_attempts": 5}


def innomaint_spec(**changes) -> SourceSpec:
    """The ``innomaint`` source exactly as ``defs/innomaint/defs.yaml`` declares it (``changes`` replace fields)."""
    return replace(find_source("innomaint", configured_sources()), **changes)


INNOMAINT = innomaint_spec()


def api_resource(spec: SourceSpec, base_url: str, token: str, **http) -> CmmsApiResource:
    """The source's API resource pointed at a simulator, with a literal test token (never a real one)."""
    return CmmsApiResource(
        source=spec.source, connector=spec.connector_name, base_url=base_url, secret_env=dict(spec.secrets),
        token=token, **{**TEST_HTTP, **http},
    )


def source_defs(db_url: str, spec: SourceSpec, resource: CmmsApiResource, *extra: Definitions) -> Definitions:
    """The source's definitions with a warehouse on ``db_url`` (plus any ``extra`` definitions)."""
    return Definitions.merge(
        source_definitions(spec, resource), *extra, Definitions(resources={"warehouse": WarehouseResource(database_url=db_url)})
    )


def inconsistent(engine, spec: SourceSpec = INNOMAINT) -> list[tuple[str, str]]:
    return inconsistent_assets(engine, spec.source, spec.connector.versioned_tables)
