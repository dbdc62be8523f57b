"""``python -m ic3_pipeline.cli``: the ``ic3`` command."""

from ic3_pipeline.cli.app import run

run()
