"""Measure the sandbox: start-up with many records, paging throughput, memory.

``python -m merge_sandbox.bench`` starts ``merge-sandbox serve`` as a subprocess, pages one
large model with httpx (single client, ``page_size=100``) and prints one JSON document.
"""

import argparse
import json
import time
from pathlib import Path
from typing import Any

import httpx

from merge_pipeline.catalog import load_catalog
from merge_sandbox.testing import sandbox_process


def rss_mib(pid: int) -> float:
    """Resident set size of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def page_through(
    url: str, headers: dict[str, str], pages: int, page_size: int, **params: Any
) -> tuple[int, float]:
    """(records, seconds) for up to ``pages`` pages, following ``next``."""
    seen = 0
    query: dict[str, Any] = {"page_size": page_size, **params}
    started = time.perf_counter()
    with httpx.Client(headers=headers, timeout=60) as client:
        for _ in range(pages):
            body = client.get(url, params=query).raise_for_status().json()
            seen += len(body["results"])
            if not body["next"]:
                break
            query["cursor"] = body["next"]
    return seen, time.perf_counter() - started


def run(
    accounts: int,
    records: int,
    categories: str,
    pages: int,
    page_size: int,
    model: str | None = None,
) -> dict[str, Any]:
    args = ["--categories", categories]
    with sandbox_process(accounts=accounts, records=records, extra_args=args) as sb:
        pid = sb.process.pid
        rss_start = rss_mib(pid)
        if model:
            account = next(a for a in sb.accounts if model in a.models)
            model_id, count = model, account.models[model]
        else:
            account = max(sb.accounts, key=lambda a: max(a.models.values()))
            model_id, count = max(account.models.items(), key=lambda item: item[1])
        common_model = load_catalog().model(model_id)
        path = common_model.list_path
        headers = {
            "Authorization": f"Bearer {sb.api_key}",
            "X-Account-Token": account.account_token,
        }
        url = sb.base_url + path
        page_through(url, headers, 3, page_size)  # warm up
        seen, seconds = page_through(url, headers, pages, page_size)
        expanded, expanded_seconds = (
            page_through(
                url, headers, max(pages // 4, 1), page_size, expand=",".join(common_model.expand)
            )
            if common_model.expand
            else (0, 1.0)
        )
        total = sum(a.record_count for a in sb.accounts)
        return {
            "records_total": total,
            "accounts": len(sb.accounts),
            "startup_seconds": round(sb.startup_seconds, 2),
            "model": model_id,
            "model_records": count,
            "page_size": page_size,
            "records_paged": seen,
            "paging_seconds": round(seconds, 2),
            "records_per_second": round(seen / seconds),
            "records_per_second_expand_all": round(expanded / expanded_seconds),
            "rss_mib_after_start": round(rss_start, 1),
            "rss_mib_after_paging": round(rss_mib(pid), 1),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--categories", default="hris")
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--model", default=None, help="e.g. hris.Employee (default: the largest)")
    args = parser.parse_args(argv)
    result = run(
        args.accounts, args.records, args.categories, args.pages, args.page_size, args.model
    )
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
