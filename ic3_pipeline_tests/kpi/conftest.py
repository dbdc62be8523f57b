"""KPI tests: the enrichment pipeline (register, simulator, real sync) and a small hand-made fixture."""

from ic3_pipeline_tests.innomaint.conftest import pipeline  # noqa: F401 - the real sync, for the history tests
