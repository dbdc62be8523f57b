"""The `innomaint_api` pool: two runs in flight never multiply the request rate against the API.

Two `ic3 sync` processes start at once against one DAGSTER_HOME configured by the project's own dagster.yaml
(pool limit 1): their API steps must not overlap, and the server must see no higher request rate than one run alone.
"""

import os
import subprocess
import sys

from dagster import DagsterEventType, DagsterInstance

from ic3_pipeline.register.importer import import_register
from ic3_pipeline.runs import INSTANCE_TEMPLATE
from ic3_pipeline.sandbox.register_generator import write_sample_register
from ic3_pipeline.warehouse import ensure_schema, make_engine
from ic3_pipeline_tests.orchestration.conftest import TOKEN, simulator_for


def sync_process(env: dict, site: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ic3_pipeline.cli", "sync", "--site", site, "--force"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def step_windows(home) -> list[tuple[float, float]]:
    with DagsterInstance.from_config(str(home)) as instance:
        windows = []
        for run in instance.get_runs():
            records = instance.all_logs(run.run_id, of_type={DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS})
            times = [r.timestamp for r in records if r.step_key == "innomaint_enrichment"]
            windows.append((min(times), max(times)))
    return sorted(windows)


def test_two_concurrent_runs_share_one_pool_slot(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'ic3.sqlite'}"
    engine = make_engine(db_url)
    ensure_schema(engine)
    summary, validated = import_register(engine, write_sample_register(tmp_path / "r.xlsx", assets=160, sites=2, seed=5))
    sites = {r["cmms_asset_id"]: r["site_name"] for r in validated.records()}
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_TEMPLATE.read_text())  # the project's pool settings, unchanged
    with simulator_for(sites, latency_ms=60.0, rate_limit=30.0) as simulator:
        env = {**os.environ, "DAGSTER_HOME": str(home), "IC3_DATABASE_URL": db_url,
               "INNOMAINT_BASE_URL": simulator.base_url, "INNOMAINT_API_TOKEN": TOKEN}
        first, second = summary.site_partition_keys
        alone = sync_process(env, first)
        assert alone.wait(timeout=120) == 0, alone.stdout.read()
        single_peak = simulator.stats()["peak_rate_1s"]
        simulator.reset_stats()

        both = [sync_process(env, first), sync_process(env, second)]
        outputs = [p.communicate(timeout=240)[0] for p in both]
        assert [p.returncode for p in both] == [0, 0], outputs
        concurrent_peak = simulator.stats()["peak_rate_1s"]

    windows = step_windows(home)
    assert len(windows) == 3
    for earlier, later in zip(windows, windows[1:]):
        assert earlier[1] <= later[0], f"API steps overlapped: {windows}"
    print(f"peak requests/s seen by the API: one run {single_peak}, two runs in flight {concurrent_peak}")
    assert concurrent_peak <= single_peak * 1.25 + 2
