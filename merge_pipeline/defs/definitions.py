"""Resources bound to their environment variables, and the executor every run uses."""

import os

import dagster as dg

from merge_pipeline.defs.resources import MergeApiResource, TokenVaultResource, WarehouseResource

DATABASE_URL_VARIABLE = "MERGE_PIPELINE_DATABASE_URL"


@dg.definitions
def resources() -> dg.Definitions:
    """Secrets are bound by variable *name*: the UI shows the name, never the value."""
    database_url = (
        dg.EnvVar(DATABASE_URL_VARIABLE) if os.environ.get(DATABASE_URL_VARIABLE) else None
    )
    return dg.Definitions(
        resources={
            "merge": MergeApiResource(
                api_key=dg.EnvVar("MERGE_PIPELINE_API_KEY"),
                base_url=os.environ.get("MERGE_PIPELINE_BASE_URL", "https://api.merge.dev/api"),
            ),
            "warehouse": WarehouseResource(
                database_url=database_url,
                data_dir=os.environ.get("MERGE_PIPELINE_DATA_DIR", ".data"),
            ),
            "token_vault": TokenVaultResource(
                encryption_key=dg.EnvVar("MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY")
            ),
        },
        executor=dg.in_process_executor,
    )
