"""A mistake in a declarative source's YAML fails when the definitions load (what `dg check defs` runs), naming the
file, the line and the key: an unknown key, auth kind or paginator, a missing or malformed environment-variable name,
an incomplete paginator, a placeholder that means nothing, an incremental stream that does not say how to send
``{since}``, ``connector`` and ``api`` together or neither."""

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
  base_url_env: ACME_URL
  api:
    name: Acme
    auth:
      kind: bearer
      token_env: ACME_TOKEN
    paginator: {type: offset, limit_param: limit, offset_param: offset}
    records: results
  streams:
    - name: assets
      resource: /assets
      key: [id]
"""  # lines 1-15; cases append from line 16


def case(yaml_text: str, lines: set[int], key: str, reason: str, id: str):
    return pytest.param(yaml_text, lines, key, reason, id=id)


MISTAKES = [
    case(BASE.replace("    records: results\n", "    recrods: results\n"), {5, 11}, "recrods",
         "Extra inputs are not permitted", "unknown-key"),
    case(BASE.replace("kind: bearer", "kind: oauth3"), {7, 8}, "kind", "Input should be 'none', 'bearer'",
         "unknown-auth-kind"),
    case(BASE.replace("{type: offset,", "{type: offest,"), {10}, "type", "Input should be 'offset'",
         "unknown-paginator"),
    case(BASE.replace("      token_env: ACME_TOKEN\n", ""), {7}, "token_env",
         "auth kind 'bearer' needs token_env (the NAME of an environment variable each)", "missing-env-name"),
    case(BASE.replace("token_env: ACME_TOKEN", "token_env: \"s3cr3t value!\""), {7, 9}, "token_env",
         "must be the NAME of an environment variable, never the secret itself", "secret-value"),
    case(BASE.replace("      token_env: ACME_TOKEN\n", "      token_env: ACME_TOKEN\n      user_env: ACME_USER\n"),
         {7, 10}, "user_env", "auth kind 'bearer' takes no user_env", "env-for-another-kind"),
    case(BASE.replace("{type: offset, limit_param: limit, offset_param: offset}", "{type: offset, limit_param: limit}"),
         {10}, "offset_param", "paginator 'offset' needs offset_param and limit_param", "incomplete-paginator"),
    case(BASE + "      api:\n        request: {query: {after: \"{offest}\"}}\n", {13, 16, 17}, "request",
         "unknown placeholder(s) {offest}", "unknown-placeholder"),
    case(BASE + "      change_field: updatedAt\n", {13, 16}, "incremental",
         "a stream with a change_field needs `incremental` (how {since} is sent)", "incremental-missing"),
    case(BASE + "      api:\n        incremental: {query: {updated: \"{when}\"}}\n", {17}, "query",
         "an incremental read must put {since} in its query or body", "incremental-without-since"),
    case(BASE.replace("  base_url_env: ACME_URL\n", "  base_url_env: ACME_URL\n  connector: maximo\n"), {4, 5},
         "connector", "give `connector` (a connector of this release) or `api`", "connector-and-api"),
]


@pytest.mark.parametrize(("yaml_text", "lines", "key", "reason"), MISTAKES)
def test_a_yaml_mistake_fails_at_load_naming_file_line_and_key(yaml_text, lines, key, reason):
    with create_defs_folder_sandbox() as sandbox:
        defs_path = sandbox.scaffold_component(component_cls=CmmsCollections, defs_path="acme")
        (defs_path / "defs.yaml").write_text(textwrap.dedent(yaml_text), encoding="utf-8")
        with pytest.raises(ComponentTreeException) as raised:
            with sandbox.load_component_and_build_defs(defs_path=defs_path):
                pass
    text = user_text(raised.value)
    defs_yaml = str(Path(defs_path) / "defs.yaml")
    assert any(f"{defs_yaml}:{line}" in text for line in lines), f"no {defs_yaml}:{sorted(lines)} in:\n{text}"
    assert key in text and reason in text, text


def test_the_base_yaml_loads():
    attributes = BASE.split("attributes:\n", 1)[1]
    spec = CmmsCollections.resolve_from_yaml(textwrap.dedent(attributes)).spec()
    assert spec.connector_name == "declarative" and spec.secrets == {"token": "ACME_TOKEN"}
    assert spec.connector.stream_paging(spec.stream("assets")) == "offset"
