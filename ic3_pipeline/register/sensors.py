"""The drop-folder sensor: a new or changed register in ``IC3_REGISTER_DIR`` becomes an import run.

The cursor remembers each file's content hash, so a file that is touched or copied again unchanged triggers nothing,
and an edited file triggers exactly one import (the run key is the hash). New sites are each source's
business: its ``<source>_new_sites`` sensor notices them once the import has written them.
"""

import hashlib
import json
from pathlib import Path

from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SensorResult, SkipReason, sensor

from ic3_pipeline.register.jobs import IMPORT_JOB
from ic3_pipeline.register.location import REGISTER_DIR_ENV, is_register_file, register_dir


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@sensor(
    name="register_drop_folder",
    job_name=IMPORT_JOB,
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.STOPPED,
    description=f"Imports each new or changed .xlsx register dropped into {REGISTER_DIR_ENV} (once per content).",
)
def register_drop_folder(context: SensorEvaluationContext):
    directory = register_dir()
    if directory is None:
        return SkipReason(f"{REGISTER_DIR_ENV} is not set: nothing to watch.")
    if not directory.is_dir():
        return SkipReason(f"{REGISTER_DIR_ENV} is {directory}, which is not a folder.")
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    requests = []
    for path in sorted(p for p in directory.glob("*.xlsx") if is_register_file(p)):
        digest = file_digest(path)
        if seen.get(path.name) == digest:
            continue
        seen[path.name] = digest
        requests.append(
            RunRequest(
                run_key=f"{path.name}:{digest[:16]}",
                run_config={"ops": {"asset_register": {"config": {"path": str(path)}}}},
                tags={"ic3/trigger": "register_drop_folder", "ic3/register_file": path.name},
            )
        )
    if not requests:
        return SensorResult(skip_reason=SkipReason("No new or changed register."), cursor=json.dumps(seen, sort_keys=True))
    context.log.info(f"Requesting import of {', '.join(r.tags['ic3/register_file'] for r in requests)}")
    return SensorResult(run_requests=requests, cursor=json.dumps(seen, sort_keys=True))
