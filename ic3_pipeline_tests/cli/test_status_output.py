"""`ic3 status`: a batch's sites are a label, and the JSON names the field for what it holds."""

import json
from datetime import timedelta

from click.testing import CliRunner

from ic3_pipeline.cli import main
from ic3_pipeline.register.importer import import_register
from ic3_pipeline.sync.attempts import SyncContext
from ic3_pipeline.sync.batch import BatchReport
from ic3_pipeline.sync.sync_log import record_batch
from ic3_pipeline.warehouse.times import utc_now


def test_json_names_the_batch_sites_label_partitions_not_partition_key(engine, db_url, sample_register, monkeypatch):
    summary, _ = import_register(engine, sample_register)
    keys = sorted(summary.site_partition_keys)
    batch = SyncContext(source="innomaint", sync_type="innomaint", run_id="r1", batch_id="innomaint-b1")
    record_batch(engine, batch, keys, BatchReport(due=120, synced=120), utc_now() - timedelta(seconds=5))
    monkeypatch.setenv("IC3_DATABASE_URL", db_url)
    label = f"{keys[0]} … {keys[-1]} ({len(keys)} sites)"

    for args in (["status", "--json"], ["status", "innomaint", "--json"]):
        printed = json.loads(CliRunner().invoke(main, args, catch_exceptions=False).output)
        (shown,) = printed["last_batches"]
        assert shown["partitions"] == label
        assert "partition_key" not in shown  # a label is not a partition key
    text = CliRunner().invoke(main, ["status"], catch_exceptions=False).output
    assert f"[{label}]" in text
