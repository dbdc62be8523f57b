"""Importing registers into the database: counts, idempotence, updates, atomicity — on SQLite and PostgreSQL."""

import pytest
from sqlalchemy import func, select, update

from ic3_pipeline.register import loader
from ic3_pipeline.register.importer import import_register
from ic3_pipeline.register.problems import RegisterRejected
from ic3_pipeline.register.sites import site_partition_key
from ic3_pipeline.warehouse import tables
from ic3_pipeline_tests.dbstate import dump
from ic3_pipeline_tests.registers import row, write_register


def count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_sample_register_imports_with_masters(engine, sample_register):
    summary, _ = import_register(engine, sample_register)
    assert (summary.rows_read, summary.inserted, summary.updated, summary.unchanged) == (120, 120, 0, 0)
    assert summary.sites == 8 and len(summary.new_sites) == 8
    assert count(engine, tables.asset_master) == 120
    assert count(engine, tables.location_master) == 8
    with engine.connect() as conn:
        unresolved = conn.execute(
            select(func.count()).where(
                tables.asset_master.c.customer_id.is_(None) | tables.asset_master.c.location_id.is_(None)
                | tables.asset_master.c.category_id.is_(None) | tables.asset_master.c.manufacturer_id.is_(None)
            )
        ).scalar_one()
        keys = set(conn.execute(select(tables.location_master.c.partition_key)).scalars())
    assert unresolved == 0
    assert keys == set(summary.site_partition_keys)


def test_reimport_changes_nothing(engine, sample_register):
    import_register(engine, sample_register)
    before = dump(engine)
    summary, _ = import_register(engine, sample_register)
    assert (summary.inserted, summary.updated, summary.unchanged) == (0, 0, 120)
    assert summary.new_sites == []
    assert dump(engine) == before


def test_changed_rows_update_and_enriched_columns_stay(engine, tmp_path):
    first = write_register(tmp_path / "v1.xlsx", [row("P-1"), row("P-2"), row("P-3")])
    import_register(engine, first)
    with engine.begin() as conn:  # what a CMMS sync would have added
        conn.execute(update(tables.asset_master).values(barcode="BC-1", sync_version=4, ticketcount=9))
    second = write_register(
        tmp_path / "v2.xlsx", [row("P-1", **{"Asset Name": "Pump renamed"}), row("P-2"), row("P-4", site="Noida Sec 62")]
    )
    summary, _ = import_register(engine, second)
    assert (summary.inserted, summary.updated, summary.unchanged) == (1, 1, 1)
    assert summary.new_sites == [site_partition_key("Noida Sec 62")]
    assert summary.missing_from_register == 1 and summary.missing_sample == ["P-3"]
    with engine.connect() as conn:
        rows = {r.cmms_asset_id: r for r in conn.execute(select(tables.asset_master))}
    assert set(rows) == {"P-1", "P-2", "P-3", "P-4"}  # P-3 reported, not deleted
    assert rows["P-1"].asset_name == "Pump renamed"
    assert (rows["P-1"].barcode, rows["P-1"].sync_version, rows["P-1"].ticketcount) == ("BC-1", 4, 9)
    assert rows["P-4"].sync_version == 0 and rows["P-4"].barcode is None


def test_refused_file_leaves_database_exactly_as_before(engine, sample_register, tmp_path):
    import_register(engine, sample_register)
    before = dump(engine)
    bad = write_register(tmp_path / "bad.xlsx", [row(f"N-{i}") for i in range(50)] + [row("N-x", Latitude=500)])
    with pytest.raises(RegisterRejected):
        import_register(engine, bad)
    assert dump(engine) == before


def test_failure_while_writing_rolls_everything_back(engine, sample_register, tmp_path, monkeypatch):
    """A fault after some batches were written (database error, crash) leaves no partial import."""
    import_register(engine, write_register(tmp_path / "seed.xlsx", [row("P-1")]))
    before = dump(engine)
    calls = []
    original = loader._write_batch

    def failing_write(conn, batch, summary):
        original(conn, batch, summary)
        calls.append(len(batch))
        if len(calls) == 2:
            raise RuntimeError("connection lost")

    monkeypatch.setattr(loader, "BATCH_SIZE", 40)
    monkeypatch.setattr(loader, "_write_batch", failing_write)
    with pytest.raises(RuntimeError, match="connection lost"):
        import_register(engine, sample_register)
    assert calls == [40, 40]
    assert dump(engine) == before


def test_hostile_ids_and_site_names_are_stored_verbatim(engine, tmp_path):
    ids = ["A'; DROP TABLE ic3_asset_master; --", 'Pump "7", bay [2] | west', "Zürich/Bâle №5", "x" * 255]
    sites = ["Site, with [brackets] | pipes", "Site... dots", "Plain Site"]
    path = write_register(tmp_path / "r.xlsx", [row(i, site=sites[n % 3]) for n, i in enumerate(ids)])
    summary, _ = import_register(engine, path)
    with engine.connect() as conn:
        stored = set(conn.execute(select(tables.asset_master.c.cmms_asset_id)).scalars())
        names = dict(conn.execute(select(tables.location_master.c.location_name, tables.location_master.c.partition_key)).all())
    assert stored == set(ids)
    assert names["Plain Site"] == "Plain Site"
    for key in summary.site_partition_keys:
        assert not any(bad in key for bad in (",", "[", "]", "|", "..."))
    assert len(set(names.values())) == 3
    again, _ = import_register(engine, path)  # the stored hashes are found by these ids: nothing is written
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, len(ids))


def test_partition_keys_are_stable_and_distinct():
    assert site_partition_key("Delhi Cantt Naraina") == "Delhi Cantt Naraina"
    assert site_partition_key("A, B") == site_partition_key("A, B")
    assert site_partition_key("A, B") != site_partition_key("A; B")
    assert site_partition_key("A|B").startswith("A_B~")
