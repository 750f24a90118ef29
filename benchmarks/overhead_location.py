"""The code location plus multiprocess-executor twins of its jobs, for the overhead benchmark."""

import dagster as dg

from merge_pipeline import definitions as location  # one @definitions per module scope


@dg.definitions
def defs() -> dg.Definitions:
    hris = dg.define_asset_job(
        "sync_hris_multiprocess",
        selection=dg.AssetSelection.groups("hris"),
        executor_def=dg.multiprocess_executor,
    )
    return dg.Definitions.merge(location.defs(), dg.Definitions(jobs=[hris]))
