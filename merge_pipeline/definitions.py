"""The Dagster code location (``workspace.yaml`` points here): everything under ``defs/``."""

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Loading builds ~10^5 long-lived objects (114 assets, 456 checks, their specs) and the
    cyclic collector ran ~170 times during it, a quarter of the load's CPU; every run process
    loads the location again. Garbage made meanwhile is collected once it resumes."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dg.definitions
def defs() -> dg.Definitions:
    with _collector_paused():
        return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
