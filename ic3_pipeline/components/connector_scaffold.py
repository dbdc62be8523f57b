"""A new connector's first ``defs.yaml``: a commented template that loads as it is (``ic3 connector new NAME``, and
``dg scaffold defs ic3_pipeline.components.CmmsCollections NAME`` through :class:`CollectionsScaffolder`).

The template declares a working shape - bearer auth, offset paging, records under ``results``, an incremental read on
``updated_at``, one stream of assets with a ``unified:`` block - and names every alternative in comments, so editing
it is choosing, not looking up. Its variables are named after the source (``PLANTDB_BASE_URL``, ``PLANTDB_TOKEN``):
the file passes ``dg check defs`` before any value is set, and ``ic3 connector check NAME`` once they are.
"""

from __future__ import annotations

import os
from pathlib import Path
from string import Template

from dagster.components.scaffold.scaffold import NoParams, Scaffolder, ScaffoldRequest

from ic3_pipeline.components.connector_files import DEFS_FILE, name_problem

TEMPLATE = Template('''\
# yaml-language-server: $$schema=$schema
# $name: a CMMS API declared in YAML (no Python). Edit the marked places, then:
#   dg check defs                      # the file is valid (mistakes are named by file, line and key)
#   export ${env}_BASE_URL=… ${env}_TOKEN=…
#   ic3 connector check $name          # one page of each stream from the API, mapped; nothing written
#   ic3 sync $name                     # tables ${name}_<stream>, unified rows in cmms_asset, …
# Every key is described in the README ("Connect another CMMS with YAML", "Unified model").
type: ic3_pipeline.components.CmmsCollections

attributes:
  source: $name                        # names the tables (${name}_assets), the UI group and `ic3 sync $name`
  base_url_env: ${env}_BASE_URL        # the variable holding the API root (e.g. https://cmms.example.com/api/v1)
  api:
    name: $display                     # the API's name in messages
    auth:                              # secrets are environment-variable NAMES, never values
      kind: bearer                     # none | bearer | api_key | basic | session | hmac_signed_url | oauth2_client_credentials
      token_env: ${env}_TOKEN          # bearer: token_env; api_key: key_env (+ location/param); basic and
                                       # session: user_env, password_env (+ login, token_path); oauth2: client_id_env,
                                       # client_secret_env, token_url
    request:
      headers: {Accept: application/json}
      # method: GET                    # POST with a `body` (JSON object or text) for APIs that query in the body
      # query: {status: all}           # templates: {page_size} {offset} {page} {cursor} {partition} {resource}
    paginator:                         # offset | page_number | next_link | cursor | single
      type: offset
      offset_param: offset
      limit_param: limit
      # total_path: total              # where the count of all records is: pages are then read several at once
    records: results                   # where the list is in an answer (`data`, `d.results`; "." = the body)
    errors:
      message_path: message            # the API's error message, shown when it refuses a request
    incremental:                       # how a stream with a change_field asks for changes only
      query: {updated_since: "{since}"}
      since_format: iso                # iso | epoch_s | epoch_ms | a strftime pattern (UTC)
  paging:
    page_size: 100
    max_page_size: 500
  # sites_env: ${env}_SITES            # per-site streams (partition_field): the sites, comma-separated
  streams:
    - name: assets
      resource: /assets                # the path under the base URL ({resource} in templates)
      key: [id]                        # the attribute(s) identifying a record
      change_field: updated_at         # incremental reads filter on it; remove to read the whole list each time
      description: Assets (`GET /assets`).
      unified:                         # each record also becomes a row of cmms_asset (README: "Unified model")
        table: cmms_asset              # cmms_asset | cmms_work_order | cmms_maintenance_schedule
        fields:
          name: {path: name, steps: [trim]}
          site: {path: site}
          status: {path: status}
          serial_number: {path: serial_number}
          source_updated_at: {path: updated_at, steps: [date]}
    # - name: work_orders
    #   resource: /work-orders
    #   key: [id]
    #   change_field: updated_at
    #   depends_on: [assets]
    #   references:
    #     - {columns: [asset_id], stream: assets, to: [id]}
    #   unified:
    #     table: cmms_work_order
    #     fields:
    #       title: {path: title}
    #       status: {path: status, map: {new: open, started: in_progress, done: completed}, default: open}
    #       asset_source_id: {path: asset_id}

requirements:
  env:
    - ${env}_BASE_URL
    - ${env}_TOKEN
''')

SCHEMA_FILE = "cmms_collections.schema.json"


def schema_path() -> Path:
    """The checked-in JSON Schema of a ``CmmsCollections`` defs.yaml (``ic3 connector schema`` writes it)."""
    return Path(__file__).resolve().parent / SCHEMA_FILE


def render_template(name: str, schema: str | None = None) -> str:
    """The template for source ``name``; ``schema``: what the editor's ``$schema`` comment points at."""
    problem = name_problem(name)
    if problem:
        raise ValueError(problem)
    display = " ".join(part.capitalize() for part in name.split("_"))
    return TEMPLATE.substitute(name=name, env=name.upper(), display=display, schema=schema or str(schema_path()))


def write_new(folder: Path, name: str) -> Path:
    """``folder/defs.yaml`` for source ``name``; refuses to replace a file that is there (FileExistsError)."""
    path = folder / DEFS_FILE
    # Relative, so the editor finds the schema wherever the checkout is (ic3_pipeline/defs/<name> -> ../../components).
    text = render_template(name, os.path.relpath(schema_path(), folder.resolve()))
    folder.mkdir(parents=True, exist_ok=True)
    with path.open("x", encoding="utf-8") as out:  # "x": never overwrite
        out.write(text)
    return path


class CollectionsScaffolder(Scaffolder[NoParams]):
    """``dg scaffold defs ic3_pipeline.components.CmmsCollections NAME``: the same template, named after the folder."""

    def scaffold(self, request: ScaffoldRequest[NoParams]) -> None:
        name = Path(request.target_path).name
        problem = name_problem(name)
        if problem:
            raise ValueError(f"the folder names the source: {problem}")
        write_new(Path(request.target_path), name)
