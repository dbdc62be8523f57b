"""The sync engine, plain Python and keyed by source: the connector protocol, due selection, the concurrent batch
runner, per-source state and logs, learned rate limits, retry planning, partition ranges and integrity checks.

No module here names a CMMS: what is one CMMS's own lives in ``ic3_pipeline.connectors``."""
