"""`ic3 connector new NAME` (and `dg scaffold defs ic3_pipeline.components.CmmsCollections NAME`) writes a template that
loads as Dagster loads a defs folder, never replaces a file, refuses a bad name; `ic3 connector schema` is the
checked-in JSON Schema (a stale copy fails here), and that schema accepts every shipped connector and the template
and rejects a misspelt key."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema  # installed with dagster-dg (the `dg` CLI); used here only
import pytest
import yaml
from dagster.components.testing import create_defs_folder_sandbox

from ic3_pipeline.components import CmmsCollections
from ic3_pipeline.components.connector_files import load_connector, project_defs_dir
from ic3_pipeline.components.connector_schema import schema_text
from ic3_pipeline.components.connector_scaffold import render_template, schema_path


def ic3(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ic3_pipeline.cli", *args], capture_output=True, text=True,
                          timeout=120)


def test_new_writes_a_template_that_loads_and_never_replaces_a_file(tmp_path):
    done = ic3("connector", "new", "plantdb", "--defs-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    path = tmp_path / "plantdb" / "defs.yaml"
    assert f"Wrote {path}" in done.stdout and "ic3 connector check plantdb" in done.stdout
    text = path.read_text(encoding="utf-8")
    assert "base_url_env: PLANTDB_BASE_URL" in text and "token_env: PLANTDB_TOKEN" in text
    spec = load_connector("plantdb", tmp_path).spec  # resolved and validated as `dg check defs` does
    assert spec.source == "plantdb" and spec.secrets == {"token": "PLANTDB_TOKEN"}
    (assets,) = spec.streams
    assert assets.mapping is not None and assets.mapping.table == "cmms_asset" and assets.change_field == "updated_at"
    # the editor comment points at the checked-in schema, relative to the file
    first = text.splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=")
    assert (path.parent / first.split("=", 1)[1]).resolve() == schema_path()

    path.write_text(text + "# edited\n", encoding="utf-8")
    again = ic3("connector", "new", "plantdb", "--defs-dir", str(tmp_path))
    assert again.returncode == 1 and "exists; not replaced" in again.stderr
    assert path.read_text(encoding="utf-8").endswith("# edited\n")


@pytest.mark.parametrize("name", ["Plant-DB", "1plant", "status", "x" * 49])
def test_new_refuses_a_name_that_cannot_name_a_source(tmp_path, name):
    done = ic3("connector", "new", name, "--defs-dir", str(tmp_path))
    assert done.returncode == 2 and repr(name) in done.stderr, done.stderr
    assert not any(tmp_path.iterdir())


def test_dg_scaffold_writes_the_same_template_and_it_builds_definitions():
    with create_defs_folder_sandbox() as sandbox:
        defs_path = sandbox.scaffold_component(component_cls=CmmsCollections, defs_path="plantdb")
        text = (defs_path / "defs.yaml").read_text(encoding="utf-8")
        assert text.split("\n", 1)[1] == render_template("plantdb").split("\n", 1)[1]  # all but the schema line
        with sandbox.load_component_and_build_defs(defs_path=defs_path) as (component, defs):
            assert isinstance(component, CmmsCollections)
            keys = {key.to_user_string() for asset in defs.assets for key in asset.keys}
            assert "plantdb/assets" in keys
            assert [job.name for job in defs.jobs] and all(job.name.endswith("plantdb") for job in defs.jobs)


def test_the_checked_in_schema_is_generated_from_the_models():
    assert schema_path().read_text(encoding="utf-8") == schema_text(), (
        "ic3_pipeline/components/cmms_collections.schema.json is stale: run "
        "`ic3 connector schema --out ic3_pipeline/components/cmms_collections.schema.json`")
    done = ic3("connector", "schema")
    assert done.returncode == 0 and done.stdout == schema_text()


def test_the_schema_accepts_every_shipped_connector_and_the_template_and_rejects_mistakes():
    validator = jsonschema.Draft202012Validator(json.loads(schema_text()))
    shipped = [path for path in sorted(project_defs_dir().glob("*/defs.yaml")) if "CmmsCollections" in path.read_text()]
    assert {path.parent.name for path in shipped} >= {"upkeep", "fiix", "sap_pm", "maximo"}
    for path in shipped:
        errors = [error.message for error in validator.iter_errors(yaml.safe_load(path.read_text()))]
        assert not errors, (path, errors[:3])
    template = yaml.safe_load(render_template("plantdb"))
    assert not list(validator.iter_errors(template))
    misspelt = yaml.safe_load(render_template("plantdb").replace("    records: results", "    recrods: results"))
    assert list(validator.iter_errors(misspelt))
    bad_field = yaml.safe_load(render_template("plantdb").replace("{path: site}", "{pth: site}"))
    assert list(validator.iter_errors(bad_field))
    bad_kind = yaml.safe_load(render_template("plantdb").replace("kind: bearer", "kind: oauth3"))
    assert list(validator.iter_errors(bad_kind))
