"""merge-pipeline: a Dagster code location that mirrors Merge.dev Common Models into PostgreSQL."""
