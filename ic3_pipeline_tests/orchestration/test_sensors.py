"""Sensor and schedule ticks on a real instance: what they request, and what they do not."""

import os
import shutil
import time
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from ic3_pipeline.sync.due import PartitionFailures, failed_partitions
from ic3_pipeline.sync.retry_plan import RetryPolicySettings, plan_retries
from ic3_pipeline.register.importer import import_register
from ic3_pipeline.register.partitions import register_site_partitions
from ic3_pipeline.warehouse import tables
from ic3_pipeline_tests.orchestration.conftest import build_defs
from ic3_pipeline_tests.registers import row, write_register
from ic3_pipeline_tests.sources import INNOMAINT


def test_register_sensor_imports_each_content_once(orchestra, register_dir, tmp_path):
    first = orchestra.tick("register_drop_folder")
    assert not first.run_requests and "No new or changed register" in first.skip_message

    write_register(register_dir / "sites.xlsx", [row("P-1"), row("P-2")])
    (register_dir / "~$sites.xlsx").write_bytes(b"lock")
    (register_dir / "notes.txt").write_text("not a register")
    data = orchestra.tick("register_drop_folder")
    (request,) = data.run_requests
    assert request.run_config["ops"]["asset_register"]["config"]["path"] == str(register_dir / "sites.xlsx")
    assert orchestra.execute(request, "import_register").success

    assert not orchestra.tick("register_drop_folder").run_requests  # same file again
    later = time.time() + 10
    os.utime(register_dir / "sites.xlsx", (later, later))  # touched, not changed
    assert not orchestra.tick("register_drop_folder").run_requests
    shutil.copyfile(register_dir / "sites.xlsx", tmp_path / "copy.xlsx")
    write_register(register_dir / "sites.xlsx", [row("P-1"), row("P-2"), row("P-3")])  # edited
    (edited,) = orchestra.tick("register_drop_folder").run_requests
    assert edited.run_key != request.run_key


def test_register_sensor_says_why_it_skips(orchestra, monkeypatch, tmp_path):
    monkeypatch.delenv("IC3_REGISTER_DIR", raising=False)
    assert "IC3_REGISTER_DIR is not set" in orchestra.tick("register_drop_folder").skip_message
    monkeypatch.setenv("IC3_REGISTER_DIR", str(tmp_path / "absent"))
    assert "which is not a folder" in orchestra.tick("register_drop_folder").skip_message


def test_new_sites_get_partitions_and_runs_once(orchestra, tmp_path):
    engine = orchestra.engine
    import_register(engine, write_register(tmp_path / "a.xlsx", [row("A-1", site="Site A"), row("B-1", site="Site B, west")]))
    data = orchestra.tick("innomaint_new_sites")
    keys = orchestra.instance.get_dynamic_partitions("sites")
    assert len(keys) == 2 and "Site A" in keys
    assert len(data.run_requests) == 1  # both sites in one ranged run
    tags = data.run_requests[0].tags
    assert (tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]) == (keys[0], keys[-1])
    assert not orchestra.tick("innomaint_new_sites").run_requests  # requested already

    import_register(engine, write_register(tmp_path / "b.xlsx", [row("A-1", site="Site A"), row("B-1", site="Site B, west"), row("C-1", site="Site C")]))
    (request,) = orchestra.tick("innomaint_new_sites").run_requests
    assert request.tags["dagster/partition"] == "Site C"
    assert len(orchestra.instance.get_dynamic_partitions("sites")) == 3


def test_retry_plan_cools_down_doubles_caps_and_limits_in_flight():
    settings = RetryPolicySettings(base_cooldown=timedelta(minutes=2), max_cooldown=timedelta(minutes=30), max_in_flight=2)
    assert [settings.cooldown(n).total_seconds() for n in (1, 2, 3, 10)] == [120, 240, 480, 1800]
    now = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
    failures = [
        PartitionFailures("fresh", 1, 1, now - timedelta(minutes=1)),  # cooling down
        PartitionFailures("ready", 3, 1, now - timedelta(minutes=3)),
        PartitionFailures("flaky", 1, 3, now - timedelta(minutes=5)),  # 3rd failure: 8 min cool-down
        PartitionFailures("older", 1, 1, now - timedelta(hours=1)),
        PartitionFailures("busy", 1, 1, now - timedelta(hours=1)),
    ]
    decisions, waiting = plan_retries(failures, now=now, in_flight_partitions=["busy"], settings=settings)
    assert [d.partition_key for d in decisions] == ["ready"]  # one slot left: busy holds the other
    assert any(w.startswith("fresh: cooling down") for w in waiting)
    assert any(w.startswith("flaky: cooling down") for w in waiting)
    assert any(w.startswith("older: waiting for a free slot") for w in waiting)
    assert any(w.startswith("busy: a retry is already in flight") for w in waiting)
    again, _ = plan_retries(failures, now=now, in_flight_partitions=[], settings=settings)
    assert [d.run_key for d in again][:1] == [decisions[0].run_key]  # same failure state, same run key


def test_retry_sensor_waits_for_cooldown_and_never_requests_404s(orchestra, tmp_path):
    engine = orchestra.engine
    summary, _ = import_register(engine, write_register(tmp_path / "r.xlsx", [row("F-1", site="S1"), row("N-1", site="S2"), row("OK-1", site="S3")]))
    register_site_partitions(orchestra.instance, summary.site_partition_keys)
    just_now = datetime.now(timezone.utc)
    asset = tables.asset_master
    with engine.begin() as conn:
        ids = dict(conn.execute(select(asset.c.cmms_asset_id, asset.c.asset_id)).all())
        for state in [
            {"source": "innomaint", "asset_id": ids["F-1"], "last_sync_status": "error", "consecutive_failures": 1,
             "last_sync_error": "HTTP 503 after 3 attempts", "last_attempt_at": just_now, "updated_at": just_now},
            {"source": "innomaint", "asset_id": ids["N-1"], "last_sync_status": "not_found",
             "last_attempt_at": just_now - timedelta(days=1), "updated_at": just_now},
            # another source's failure is not this source's to retry
            {"source": "other_cmms", "asset_id": ids["OK-1"], "last_sync_status": "error", "consecutive_failures": 4,
             "last_attempt_at": just_now - timedelta(days=1), "updated_at": just_now},
        ]:
            conn.execute(tables.sync_state.insert().values(**state))
    assert [f.partition_key for f in failed_partitions(engine, "innomaint", None)] == ["S1"]

    waiting = orchestra.tick("innomaint_retry_failed")
    assert not waiting.run_requests and "S1: cooling down until" in waiting.skip_message

    orchestra.defs = build_defs(orchestra.db_url, "http://127.0.0.1:9", retry=RetryPolicySettings(base_cooldown=timedelta(0)))
    (request,) = orchestra.tick("innomaint_retry_failed").run_requests
    assert request.partition_key == "S1" and request.tags["ic3/trigger"] == "retry"


def test_schedule_requests_every_site_in_few_runs(orchestra):
    register_site_partitions(orchestra.instance, [f"Site {i:03d}" for i in range(250)])
    requests = orchestra.schedule_tick().run_requests
    assert len(requests) == 3  # 100 sites per run
    covered = [(r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"]) for r in requests]
    assert covered == [("Site 000", "Site 099"), ("Site 100", "Site 199"), ("Site 200", "Site 249")]


def test_schedule_without_sites_says_so(orchestra):
    assert "No site partitions yet" in orchestra.schedule_tick().skip_message
