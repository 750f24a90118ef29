"""Decisions the Dagster layer carries out, as small pure functions tested without Dagster.

Which accounts become partitions, which accounts a safety-net tick syncs, which models an asset
selection means and in which order: everything here takes plain values and returns plain values.
"""
