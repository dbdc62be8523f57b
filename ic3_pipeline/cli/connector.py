"""``ic3 connector check NAME``: one page of each stream from the real API, mapped, printed - nothing written.

The page is asked for with the source's own connector (request templates, paginator, auth, parser) through the same
resilient client a sync uses, with the credentials the environment holds; the records go through the stream's
``unified:`` mapping (``sync.page_probe``). No database is opened and no Dagster run launched, so it is safe against
production: it only reads one page per stream.

Exit status: 0 every page read and every record mapped; 1 a page failed or a record would not land whole (no key, a
field the mapping cannot convert); 2 the file is wrong (file, line and key), or the environment lacks the base URL,
a secret or a per-site stream's sites.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click

from ic3_pipeline.components.collection_source import CollectionSourceSpec
from ic3_pipeline.components.connector_files import ConnectorFileError, load_connector
from ic3_pipeline.sync.page_probe import StreamProbe, probe_stream

CHECK_ATTEMPTS = 3  # a check should answer in seconds: fewer retries than a sync's
SHOWN_PROBLEMS = 20
CELL = 28  # widest value shown in the rows' table


@dataclasses.dataclass
class CheckResult:
    source: str
    path: Path
    base_url: str
    streams: list[StreamProbe]
    secret_env: list[str] = dataclasses.field(default_factory=list)  # the variables the credentials came from

    @property
    def exit_code(self) -> int:
        return 0 if all(probe.ok for probe in self.streams) else 1


def run_check(name: str, *, streams: tuple[str, ...], site: str | None, page_size: int | None, rows: int,
              as_json: bool, defs_dir: Path | None, since: datetime | None = None) -> int:
    try:
        loaded = load_connector(name, defs_dir)
    except ConnectorFileError as error:
        click.echo(str(error), err=True)
        return 2
    spec = loaded.spec
    try:
        selected = [spec.stream(stream) for stream in streams] if streams else spec.ordered_streams
    except KeyError as unknown:
        click.echo(f"{loaded.path}: no stream {unknown.args[0]!r}; streams: "
                   f"{', '.join(s.name for s in spec.ordered_streams)}", err=True)
        return 2
    try:
        result = asyncio.run(_check(spec, loaded.path, selected, site=site, page_size=page_size, since=since))
    except _Unready as error:
        click.echo(str(error), err=True)
        return 2
    if as_json:
        click.echo(json.dumps(_as_json(result), indent=2, default=_plain))
    else:
        _print(result, rows)
    return result.exit_code


class _Unready(Exception):
    """The environment cannot make the call: no base URL, a secret unset, a per-site stream without a site."""


async def _check(spec: CollectionSourceSpec, path: Path, streams, *, site: str | None,
                 page_size: int | None, since: datetime | None) -> CheckResult:
    from ic3_pipeline.components.resource import api_resource
    from ic3_pipeline.http_client import ResilientClient
    from ic3_pipeline.sync.streams import CollectionApiError

    api = api_resource(spec, secrets_as_env_vars=False)  # reads each secret's variable now, by the YAML's names
    base_url = spec.base_url or (os.environ.get(spec.base_url_env) if spec.base_url_env else None)
    if not base_url:
        raise _Unready(f"No base URL for {spec.source}: set {spec.base_url_env} ({path}).")
    connector = spec.connector
    credentials = api.credentials()
    try:
        headers = connector.headers(credentials)
        auth = connector.auth(credentials, base_url) if hasattr(connector, "auth") else None
    except CollectionApiError as missing:  # "No <API> credentials: set X and Y in the environment."
        raise _Unready(str(missing)) from None
    sites = [site] if site else spec.current_sites()
    per_site = [stream.name for stream in streams if stream.partitioned]
    if per_site and not sites:
        raise _Unready(f"{', '.join(per_site)}: per-site stream(s): pass --site or set "
                       f"{spec.sites_env or 'sites'} in the environment ({path}).")
    size = page_size or min(spec.paging.page_size, spec.paging.max_page_size)
    policy = dataclasses.replace(api.policy(), max_attempts=min(api.max_attempts, CHECK_ATTEMPTS))
    probes = []
    async with ResilientClient(base_url, headers=headers, policy=policy, auth=auth) as client:
        for stream in streams:
            probe = await probe_stream(client, connector, stream, partition=sites[0] if stream.partitioned else None,
                                       page_size=size, since=since if stream.change_field else None)
            probes.append(probe)
            if probe.auth:  # the same credentials would be refused for every other stream
                break
    return CheckResult(spec.source, path, _without_userinfo(base_url), probes, sorted(set(spec.secrets.values())))


def _without_userinfo(url: str) -> str:
    import httpx

    try:
        parsed = httpx.URL(url)
    except Exception:  # noqa: BLE001 - shown as given when it does not parse; the call reports the real error
        return url
    return str(parsed.copy_with(username=None, password=None)) if parsed.userinfo else url


# --- output ---------------------------------------------------------------------------------------------------------


def _print(result: CheckResult, rows: int) -> None:
    click.echo(f"{result.source} ({result.path}) at {result.base_url}: one page per stream, nothing written")
    for probe in result.streams:
        where = f" [{probe.partition}]" if probe.partition else ""
        where += f" (changed since {probe.since.isoformat()})" if probe.since else ""
        click.echo("")
        if probe.error:
            click.echo(f"{probe.stream}{where}: FAILED {probe.method} {probe.url}".rstrip())
            click.echo(f"  {probe.error}")
            if probe.auth and result.secret_env:
                click.echo(f"  (the credentials come from {', '.join(result.secret_env)}; later streams not asked)")
            continue
        total = f" of {probe.total}" if probe.total is not None else ""
        more = ", more pages follow" if probe.more else ""
        click.echo(f"{probe.stream}{where}: {probe.method} {probe.url} -> {probe.records}{total} record(s){more}")
        if probe.table is None:
            click.echo("  no `unified:` mapping: the raw table only")
        else:
            click.echo(f"  -> {probe.table}: {len(probe.rows)} row(s) mapped, {len(probe.problems)} problem(s)")
            if probe.lookups:
                click.echo(f"  ({', '.join(probe.lookups)}: a lookup into a master, resolved when a sync writes; "
                           "shown empty here)")
            if probe.rows and rows:
                _table(probe.columns, probe.rows[:rows])
                if len(probe.rows) > rows:
                    click.echo(f"  … {len(probe.rows) - rows} more (--rows N)")
        for problem in probe.problems[:SHOWN_PROBLEMS]:
            who = f" ({problem.source_id})" if problem.source_id else ""
            click.echo(f"  PROBLEM record {problem.record}{who}: {problem.field} = {problem.value} "
                       f"[{problem.transform}]: {problem.message}")
        if len(probe.problems) > SHOWN_PROBLEMS:
            click.echo(f"  … {len(probe.problems) - SHOWN_PROBLEMS} more problem(s) (--json lists all)")
    failed = [p for p in result.streams if p.error]
    problems = sum(len(p.problems) for p in result.streams)
    click.echo("")
    click.echo(f"{len(result.streams)} stream(s): {sum(p.records for p in result.streams)} record(s) read, "
               f"{sum(len(p.rows) for p in result.streams)} mapped, {problems} problem(s), {len(failed)} failed "
               f"page(s). {'OK' if result.exit_code == 0 else 'NOT OK'}")


def _table(columns: list[str], rows: list[dict[str, Any]]) -> None:
    cells = [[_cell(row.get(column)) for column in columns] for row in rows]
    widths = [max(len(column), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)]
    click.echo("  " + "  ".join(column.ljust(width) for column, width in zip(columns, widths)).rstrip())
    for line in cells:
        click.echo("  " + "  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())


def _cell(value: Any) -> str:
    text = "" if value is None else _plain(value) if isinstance(value, (datetime, date)) else str(value)
    text = " ".join(text.split())
    return text if len(text) <= CELL else text[: CELL - 1] + "…"


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def _as_json(result: CheckResult) -> dict[str, Any]:
    return {
        "source": result.source, "file": str(result.path), "base_url": result.base_url, "ok": result.exit_code == 0,
        "streams": [{**{name: getattr(probe, name) for name in (
            "stream", "partition", "since", "method", "url", "records", "total", "more", "table", "columns", "rows", "lookups",
            "error", "auth")}, "problems": [dataclasses.asdict(problem) for problem in probe.problems]}
            for probe in result.streams],
    }


# --- new and schema -----------------------------------------------------------------------------------------------------


def run_new(name: str, defs_dir: Path | None) -> int:
    from ic3_pipeline.components.connector_files import connector_file, name_problem, project_defs_dir
    from ic3_pipeline.components.connector_scaffold import write_new

    problem = name_problem(name)
    if problem:
        click.echo(problem, err=True)
        return 2
    path = connector_file(name, defs_dir)
    try:
        write_new(path.parent, name)
    except FileExistsError:
        click.echo(f"{path} exists; not replaced (edit it, or choose another name).", err=True)
        return 1
    where = "" if defs_dir is None or defs_dir.resolve() == project_defs_dir() else f" --defs-dir {defs_dir}"
    click.echo(f"Wrote {path}. Next: edit it (the comments list the choices), then\n"
               f"  dg check defs\n"
               f"  export {name.upper()}_BASE_URL=… {name.upper()}_TOKEN=…\n"
               f"  ic3 connector check {name}{where}\n"
               f"  ic3 sync {name}")
    return 0


def run_schema(out: Path | None) -> int:
    from ic3_pipeline.components.connector_schema import schema_text

    text = schema_text()
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"Wrote {out}", err=True)
    return 0
