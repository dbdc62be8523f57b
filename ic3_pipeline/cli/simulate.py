"""``ic3 simulate`` for the record-API simulators (UpKeep, Fiix, SAP PM, in-house): which module serves each, its
default port, and which environment variables hold the credentials it requires (the same names the presets read,
so a simulator and a sync started from one shell agree without a secret on the command line)."""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click


@dataclass(frozen=True)
class RecordSimulator:
    module: str  # under ic3_pipeline.sandbox; holds ``serve`` and the config class
    config: str
    port: int
    credentials: dict[str, str]  # config knob -> environment variable


RECORD_SIMULATORS: dict[str, RecordSimulator] = {
    "upkeep": RecordSimulator("upkeep_simulator", "UpKeepSimConfig", 8767,
                              {"email": "UPKEEP_EMAIL", "password": "UPKEEP_PASSWORD"}),
    "fiix": RecordSimulator("fiix_simulator", "FiixSimConfig", 8768,
                            {"app_key": "FIIX_APP_KEY", "access_key": "FIIX_ACCESS_KEY",
                             "secret_key": "FIIX_SECRET_KEY"}),
    "sap_pm": RecordSimulator("sap_pm_simulator", "SapPmSimConfig", 8769,
                              {"user": "SAP_PM_USER", "password": "SAP_PM_PASSWORD"}),
    "inhouse": RecordSimulator("inhouse_simulator", "InhouseSimConfig", 8770, {"token": "INHOUSE_API_TOKEN"}),
}


def serve_record_simulator(name: str, *, register: Path | None, port: int | None, sites: str | None,
                           assets_per_site: int | None, token: str | None, knobs: dict[str, Any]) -> None:
    """Build the named simulator's config from the options and environment, then serve until Ctrl+C.

    ``--token`` is honoured only by a simulator that takes a bearer token (inhouse); elsewhere it is refused rather
    than silently ignored."""
    spec = RECORD_SIMULATORS[name]
    module = importlib.import_module(f"ic3_pipeline.sandbox.{spec.module}")
    settings = dict(knobs)
    for knob, variable in spec.credentials.items():
        if os.environ.get(variable):
            settings[knob] = os.environ[variable]
    if token is not None:
        if "token" not in spec.credentials:
            raise click.UsageError(f"--token is for innomaint and inhouse; {name} takes its credentials from "
                                   f"{', '.join('$' + v for v in spec.credentials.values())}.")
        settings["token"] = token
    if sites is not None:
        settings["sites"] = tuple(s.strip() for s in sites.split(",") if s.strip())
    if assets_per_site is not None:
        settings["assets_per_site"] = assets_per_site
    try:
        config = getattr(module, spec.config)(**settings)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    site_of = None
    if register is not None:
        from ic3_pipeline.register.launch import register_sites

        site_of = register_sites(register)
    try:
        module.serve(config, register=site_of, port=port or spec.port)
    except OSError as error:
        raise click.ClickException(f"cannot serve on 127.0.0.1:{port or spec.port}: {error.strerror or error} "
                                   "(another simulator? pass --port)") from None
