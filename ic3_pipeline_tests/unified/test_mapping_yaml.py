"""A ``unified:`` block in a source's YAML: mistakes fail when the definitions load (what ``dg check defs`` runs),
naming the file, the exact line and the key; a correct block becomes the stream's mapping."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from dagster.components.core.component_tree import ComponentTreeException
from dagster.components.testing import create_defs_folder_sandbox

from ic3_pipeline.components import CmmsCollections
from ic3_pipeline_tests.components.conftest import user_text

BASE = """\
type: ic3_pipeline.components.CmmsCollections
attributes:
  source: acme
  connector: maximo
  base_url_env: ACME_URL
  secrets:
    api_key: ACME_KEY
  sites_env: ACME_SITES
  streams:
    - name: wodetail
      resource: MXAPIWODETAIL
      key: [siteid, wonum]
      partition_field: siteid
      unified:
        table: cmms_work_order
        fields:
          title: {path: description, steps: [trim]}
          status:
            path: status
            map: {WAPPR: open, COMP: completed}
          created_at: {path: reportdate, steps: [date]}
"""  # line 14 is `unified:`, 15 `table`, 17 `title`, 18 `status`, 20 `map`, 21 `created_at`


def write(sandbox, yaml_text: str) -> Path:
    defs_path = sandbox.scaffold_component(component_cls=CmmsCollections, defs_path="acme")
    (defs_path / "defs.yaml").write_text(textwrap.dedent(yaml_text).lstrip("\n"), encoding="utf-8")
    return defs_path


def load_error(yaml_text: str) -> tuple[str, str]:
    with create_defs_folder_sandbox() as sandbox:
        defs_path = write(sandbox, yaml_text)
        with pytest.raises(ComponentTreeException) as raised:
            with sandbox.load_component_and_build_defs(defs_path=defs_path):
                pass
        return user_text(raised.value), str(defs_path / "defs.yaml")


MISTAKES = [
    pytest.param(BASE.replace("          title: {path: description, steps: [trim]}",
                              "          titel: {path: description, steps: [trim]}"), 17,
                 "streams.0.unified.fields.titel", "cmms_work_order has no column 'titel'; its columns are: title, "
                 "status, priority", id="unknown-column"),
    pytest.param(BASE.replace("        table: cmms_work_order", "        table: cmms_workorder"), 15,
                 "streams.0.unified.table", "unknown unified table 'cmms_workorder'; the tables are: cmms_asset, "
                 "cmms_work_order, cmms_maintenance_schedule", id="unknown-table"),
    pytest.param(BASE.replace("steps: [trim]}", "steps: [trim, titlecase]}"), 17,
                 "streams.0.unified.fields.title.steps.1", "unknown transform 'titlecase'; the transforms are:",
                 id="unknown-transform"),
    pytest.param(BASE.replace("{path: description, steps: [trim]}", "{path: description, stesp: [trim]}"), 17,
                 "streams.0.unified.fields.title", "unknown key 'stesp'", id="unknown-key"),
    pytest.param(BASE.replace("{path: description, steps: [trim]}", "{path: description, steps: [{extract: '(WO'}]}"),
                 17, "streams.0.unified.fields.title.steps.0", "bad regular expression '(WO'", id="bad-regex"),
    pytest.param(BASE.replace("steps: [date]}", "steps: [{date: 'dd/mm/yyyy'}]}"), 21,
                 "streams.0.unified.fields.created_at.steps.0", "date format 'dd/mm/yyyy' is neither one of",
                 id="bad-date-format"),
    pytest.param(BASE.replace("map: {WAPPR: open, COMP: completed}", "map: {WAPPR: open, COMP: done}"), 20,
                 "streams.0.unified.fields.status.map", "'done' is not a value of status; it takes: open, in_progress, "
                 "on_hold, completed, cancelled", id="status-outside-its-values"),
    pytest.param(BASE.replace("{path: description, steps: [trim]}", "{path: description, const: x}"), 17,
                 "streams.0.unified.fields.title", "a field takes its value from exactly one of path, const, concat, "
                 "when or lookup (not path and const)", id="two-sources"),
    pytest.param(BASE + "          priority: {path: wopriority, map: {HIGH: 0}}\n", 22,
                 "streams.0.unified.fields.priority.map", "0 is not a value of priority; it takes: 1, 2, 3, 4, 5",
                 id="priority-outside-1-5"),
    pytest.param(BASE + "          completed_at:\n            when:\n              - if: {path: status, inn: [COMP]}\n"
                 "                then: {path: actfinish}\n", 24, "streams.0.unified.fields.completed_at.when.0.if",
                 "unknown key 'inn'", id="unknown-condition"),
    pytest.param(BASE.replace("      unified:\n        table: cmms_work_order\n",
                              "      unified:\n        table: cmms_asset\n").replace(
        "          title: {path: description, steps: [trim]}\n          status:\n            path: status\n"
        "            map: {WAPPR: open, COMP: completed}\n          created_at: {path: reportdate, steps: [date]}\n",
        "          ic3_asset_id:\n            lookup:\n              match:\n"
        "                - {path: serialnum, column: serial}\n"), 20,
        "streams.0.unified.fields.ic3_asset_id.lookup.match.0.column",
        "ic3_asset_master has no text column 'serial'; match one of: cmms_asset_id", id="lookup-column"),
]


@pytest.mark.parametrize(("yaml_text", "line", "key", "reason"), MISTAKES)
def test_a_mapping_mistake_fails_at_load_naming_file_line_and_key(yaml_text, line, key, reason):
    text, defs_yaml = load_error(yaml_text)
    assert f"{defs_yaml}:{line}" in text, f"no {defs_yaml}:{line} in:\n{text}"
    assert key in text and reason in text, text


def test_a_correct_block_becomes_the_streams_mapping():
    with create_defs_folder_sandbox() as sandbox:
        defs_path = write(sandbox, BASE)
        with sandbox.load_component_and_build_defs(defs_path=defs_path) as (component, _):
            [stream] = component.spec().streams
    mapping = stream.mapping
    assert mapping.table == "cmms_work_order"
    assert mapping.columns == ("title", "status", "created_at")
    mapped = mapping.map_record({"siteid": "S1", "wonum": "9", "description": " Fix pump ", "status": "COMP",
                                 "reportdate": "2024-03-05T09:50:00-05:00"})
    assert mapped.failures == []
    assert mapped.source_id == "S1/9"  # no source_id given: the stream's key joined by "/"
    assert mapped.row["title"] == "Fix pump" and mapped.row["status"] == "completed"
    assert mapped.row["created_at"].isoformat() == "2024-03-05T14:50:00+00:00"
