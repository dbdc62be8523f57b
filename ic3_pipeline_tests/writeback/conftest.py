"""Write-back fixtures: the real Maximo and UpKeep simulators, and a small fleet of Critical assets linked to them
through ``cmms_asset`` (as the unified mapping links them), on SQLite and PostgreSQL.

| asset | site | source holding it | availability |
|---|---|---|---|
| M1 | Bedford | maximo (BEDFORD/<first asset>) | 90 % (fails the 95 % Critical threshold) |
| U1 | Plant U | upkeep (<first asset id>) | 90 % (fails) |
| I1 | Inno | none: Innomaint only | 90 % (fails; skipped) |
| OK | Bedford | maximo (BEDFORD/<second asset>) | 99 % (passes) |
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, update

from ic3_pipeline.components.catalog import configured
from ic3_pipeline.sandbox.maximo_simulator import MaximoSimConfig, MaximoSimulator
from ic3_pipeline.sandbox.upkeep_simulator import UpKeepSimConfig, UpKeepSimulator
from ic3_pipeline.warehouse import tables
from ic3_pipeline.warehouse.times import utc_now
from ic3_pipeline.warehouse.unified_tables import cmms_asset

API_KEY = "mx-key-7f3a91-not-a-real-one"  # distinctive, so the tests can search for leaks
PASSWORD = "upkeep-pw-b41c0e-not-a-real-one"
EMAIL = "planner@example.com"
FAILING, PASSING = (10.0, 100.0), (1.0, 100.0)  # (repair h, operating h): 90 % and 99 %


@pytest.fixture
def maximo() -> Iterator[MaximoSimulator]:
    sim = MaximoSimulator(MaximoSimConfig(sites=("BEDFORD",), assets_per_site=5, api_key=API_KEY, seed=3))
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def upkeep() -> Iterator[UpKeepSimulator]:
    sim = UpKeepSimulator(UpKeepSimConfig(email=EMAIL, password=PASSWORD, assets_per_site=5, seed=3))
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def sources() -> dict:
    """The sources exactly as defs/maximo and defs/upkeep declare them."""
    return {spec.source: spec for spec in configured()[1]}


@pytest.fixture
def live_env(maximo, upkeep, monkeypatch) -> dict[str, str]:
    env = {"MAXIMO_BASE_URL": maximo.base_url, "MAXIMO_API_KEY": API_KEY, "UPKEEP_BASE_URL": upkeep.base_url,
           "UPKEEP_EMAIL": EMAIL, "UPKEEP_PASSWORD": PASSWORD}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


class Fleet:
    """The assets above in ``engine``; ``set_repair`` moves one across the threshold."""

    def __init__(self, engine: Engine, maximo: MaximoSimulator, upkeep: UpKeepSimulator) -> None:
        self.engine = engine
        maximo_assets = maximo.truth("mxapiasset", "BEDFORD")
        self.maximo_asset = f"BEDFORD/{maximo_assets[0]['assetnum']}"
        self.upkeep_asset = upkeep.truth("assets")[0]["id"]
        links = {"M1": ("maximo", self.maximo_asset), "U1": ("upkeep", self.upkeep_asset), "I1": None,
                 "OK": ("maximo", f"BEDFORD/{maximo_assets[1]['assetnum']}")}
        sites = {"M1": "Bedford", "U1": "Plant U", "I1": "Inno", "OK": "Bedford"}
        self.ids = {name: number for number, name in enumerate(links, start=1)}
        now = utc_now() - timedelta(days=1)
        with engine.begin() as conn:
            for name, number in self.ids.items():
                repair, operating = PASSING if name == "OK" else FAILING
                conn.execute(tables.asset_master.insert().values(
                    asset_id=number, cmms_asset_id=name, site_name=sites[name], criticality="Critical",
                    sync_version=1))
                conn.execute(tables.asset_performance.insert().values(
                    asset_id=number, cmms_asset_id=name, sync_version=1, recorded_at=now, total_ticket=2,
                    total_ticket_breakdown_hours=repair, total_actual_hours=operating))
                if links[name]:
                    source, source_id = links[name]
                    conn.execute(cmms_asset.insert().values(
                        source=source, source_id=source_id, ic3_asset_id=number, site=sites[name],
                        _stream="assets", _record_key=source_id, _partition="", _synced_at=now))

    def set_repair(self, name: str, repair: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(tables.asset_performance).where(tables.asset_performance.c.asset_id == self.ids[name])
                         .values(total_ticket_breakdown_hours=repair))


@pytest.fixture
def fleet(engine, maximo, upkeep) -> Fleet:
    return Fleet(engine, maximo, upkeep)
