"""Dagster only: resources, partitions, the asset factory, jobs, schedules and sensors.

Loaded by ``merge_pipeline.definitions`` with ``dg.load_from_defs_folder``; every decision these
modules act on lives outside this folder as a pure function (``merge_pipeline.planning``).
"""
