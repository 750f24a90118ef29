"""Runs inside the dlt virtualenv: one sync of the job's Merge accounts into PostgreSQL with dlt.

``python -m dlt_peer JOB.json``. The job file names the sandbox URL, the models (path, key,
whether ``modified_after`` applies, the parent of a nested one), the database and dlt's
pipelines folder; the API key and account tokens come from the environment
(``PEER_MERGE_API_KEY``, ``PEER_ACCOUNT_TOKEN_<CATEGORY>``), never from a command line.

The source is dlt's declarative REST source, as a dlt user would write it for Merge: cursor
pagination on ``next`` (sent back as ``cursor``), ``page_size=100``, ``include_deleted_data``,
an incremental ``modified_after`` on ``modified_at`` where Merge offers it, and the merge write
disposition on the model's key. A nested model (``ats.ScreeningQuestion``, listed per job) is a
child resource of its parent, so an incremental sync lists it only under the parents that
changed. Prints one JSON line: per table, the rows dlt loaded.
"""

import json
import os
import sys
from pathlib import Path
from typing import Any

import dlt
from dlt.sources.rest_api import rest_api_source

BEGINNING = "1970-01-01T00:00:00Z"


def resource(model: dict[str, Any], parent_table: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {"page_size": 100, "include_deleted_data": "true"}
    path = model["path"]
    if parent_table is not None:
        name = model["path_param"]
        params[name] = {"type": "resolve", "resource": parent_table, "field": "id"}
    elif model["incremental"]:
        params["modified_after"] = {
            "type": "incremental",
            "cursor_path": "modified_at",
            "initial_value": BEGINNING,
        }
    return {
        "name": model["table"],
        "primary_key": model["key"],
        "write_disposition": "merge",
        "endpoint": {"path": path, "params": params, "data_selector": "results"},
    }


def source_for(job: dict[str, Any], category: str) -> Any:
    models = [m for m in job["models"] if m["category"] == category]
    tables = {m["model_id"]: m["table"] for m in models}
    return rest_api_source(
        {
            "client": {
                "base_url": f"{job['base_url']}/{category}/v1/",
                "auth": {"type": "bearer", "token": os.environ["PEER_MERGE_API_KEY"]},
                "headers": {
                    "X-Account-Token": os.environ[f"PEER_ACCOUNT_TOKEN_{category.upper()}"]
                },
                "paginator": {"type": "cursor", "cursor_path": "next", "cursor_param": "cursor"},
            },
            "resources": [
                resource(m, tables.get(m["parent"]) if m["parent"] else None) for m in models
            ],
        },
        name=f"merge_{category}",
    )


def main() -> None:
    job = json.loads(Path(sys.argv[1]).read_text())
    destination = dlt.destinations.postgres(credentials=job["database"])
    loaded: dict[str, int] = {}
    for category in job["categories"]:
        pipeline = dlt.pipeline(
            pipeline_name=f"peer_{category}",
            pipelines_dir=job["pipelines_dir"],
            destination=destination,
            dataset_name=f"{job['dataset_prefix']}_{category}",
            progress="log" if job.get("verbose") else None,
        )
        pipeline.run(source_for(job, category))
        counts = pipeline.last_trace.last_normalize_info.row_counts
        loaded.update({f"{category}.{t}": n for t, n in counts.items()})
    print(json.dumps({"rows_loaded": loaded}))


if __name__ == "__main__":
    main()
