"""ic3_pipeline: keeps a maintenance team's asset database in sync with their CMMS, as a Dagster project."""
