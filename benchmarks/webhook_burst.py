"""A burst of signed webhooks against the real receiver, SIGKILLed once mid-burst (issue #13.4).

``merge-pipeline receiver`` runs as its own process (secrets in its environment only) on a
throwaway database. Over loopback, a bounded number of requests in flight at once, it gets:

* ``--events`` distinct valid ``{Model}.synced`` bodies (every catalog model, 50 accounts), each
  signed as Merge signs it;
* ~5 % duplicates: one of those bodies again, which must collapse into the one stored row;
* ~2 % forged: distinct bodies signed with another key, which must be 401 and never stored.

Once ``--kill-at`` of the deliveries are answered, the receiver is SIGKILLed and started again.
Like Merge, the sender retries every delivery that got no answer or a 5xx (backing off) until it
gets one. Afterwards the inbox is compared with what was sent, by body SHA-256: every valid
event stored exactly once (``lost`` must be 0), no forged one stored. Throughput is valid events
stored per second of the whole burst, restart included; latency is that of the answers. The
table splits the attempts by when they started: before the kill (those cut by it get no answer),
between the kill and the restarted receiver's first health answer, and after it.

Run: ``python -m benchmarks.webhook_burst [--events N] [--concurrency N] [--kill-at F]``.
"""

import argparse
import asyncio
import hashlib
import random
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import sqlalchemy as sa

from benchmarks.report import publish
from benchmarks.support import bench_database
from merge_pipeline.catalog import load_catalog
from merge_pipeline.demo import WEBHOOK_PATH, receiver_process
from merge_pipeline.processes import ManagedProcess, port_is_free
from merge_pipeline.warehouse.pipeline_tables import webhook_inbox
from merge_pipeline.warehouse.vault import generate_key
from merge_pipeline.webhooks.signature import SIGNATURE_HEADER
from merge_sandbox.webhooks import sign

SIGNING_KEY = "whsec-bench-burst-3f9a"
FORGING_KEY = "whsec-not-the-receivers"
ACCOUNTS = 50
SEED = 13


@dataclass(frozen=True, slots=True)
class Delivery:
    kind: str  # "valid", "duplicate" or "forged"
    body: bytes
    signature: str


@dataclass(slots=True)
class Attempt:
    started: float
    latency_s: float | None  # None: no answer (connection refused, reset, timeout)
    status: int | None
    duplicate: bool = False


@dataclass(slots=True)
class Burst:
    attempts: list[Attempt] = field(default_factory=list)
    answered: int = 0  # deliveries with their final answer
    finals: Counter[tuple[str, int]] = field(default_factory=Counter)
    killed_at: float | None = None
    ready_again_at: float | None = None


def _body(index: int, model: Any, moment: datetime) -> bytes:
    """A ``{Model}.synced`` envelope (CONTRACT §6); ``last_sync_finished`` makes it distinct."""
    return orjson.dumps(
        {
            "hook": {"id": "bench-hook", "event": f"{model.name}.synced", "target": WEBHOOK_PATH},
            "linked_account": {
                "id": f"bench-account-{index % ACCOUNTS}",
                "category": model.category,
                "status": "COMPLETE",
            },
            "data": {
                "synced_fields": ["id", "remote_id", "modified_at"],
                "sync_status": {
                    "model_name": model.name,
                    "model_id": f"{model.category}.{model.name}",
                    "status": "DONE",
                    "last_sync_result": "DONE",
                    "last_sync_finished": (moment + timedelta(milliseconds=index)).isoformat(),
                    "is_initial_sync": False,
                },
            },
        }
    )


def plan(events: int, seed: int = SEED) -> list[Delivery]:
    """The deliveries in sending order: valid events, ~5 % duplicates, ~2 % forged, shuffled."""
    rng = random.Random(seed)
    models = list(load_catalog())
    moment = datetime(2026, 12, 1, tzinfo=UTC)
    valid = [
        Delivery("valid", body, sign(body, SIGNING_KEY))
        for body in (_body(i, models[i % len(models)], moment) for i in range(events))
    ]
    duplicates = [
        Delivery("duplicate", d.body, d.signature) for d in rng.sample(valid, events // 20)
    ]
    forged = [
        Delivery("forged", body, sign(body, FORGING_KEY))
        for body in (
            _body(events + i, models[i % len(models)], moment) for i in range(events // 50)
        )
    ]
    deliveries = valid + duplicates + forged
    rng.shuffle(deliveries)
    return deliveries


async def _deliver(client: httpx.AsyncClient, url: str, delivery: Delivery, burst: Burst) -> None:
    """Send until answered (as Merge retries): no answer or a 5xx is retried, backing off."""
    backoff = 0.05
    while True:
        started = time.perf_counter()
        try:
            answer = await client.post(
                url, content=delivery.body, headers={SIGNATURE_HEADER: delivery.signature}
            )
        except httpx.TransportError:
            burst.attempts.append(Attempt(started, None, None))
        else:
            latency = time.perf_counter() - started
            duplicate = answer.status_code == 200 and answer.json().get("duplicate") is True
            burst.attempts.append(Attempt(started, latency, answer.status_code, duplicate))
            if answer.status_code < 500:
                burst.answered += 1
                burst.finals[(delivery.kind, answer.status_code)] += 1
                return
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, 1.0)


async def _crash_and_restart(process: ManagedProcess, burst: Burst, kill_after: int) -> None:
    while burst.answered < kill_after:
        await asyncio.sleep(0.01)
    burst.killed_at = time.perf_counter()
    await asyncio.to_thread(process.kill)
    await asyncio.to_thread(process.start)
    await asyncio.to_thread(process.wait_ready)
    burst.ready_again_at = time.perf_counter()


async def _run_burst(
    process: ManagedProcess, url: str, deliveries: list[Delivery], concurrency: int, kill_at: float
) -> tuple[Burst, float]:
    burst = Burst()
    queue: asyncio.Queue[Delivery] = asyncio.Queue()
    for delivery in deliveries:
        queue.put_nowait(delivery)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def worker() -> None:
            while not queue.empty():
                await _deliver(client, url, queue.get_nowait(), burst)

        started = time.perf_counter()
        crash = asyncio.create_task(
            _crash_and_restart(process, burst, int(len(deliveries) * kill_at))
        )
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        await crash
        return burst, time.perf_counter() - started


def _percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _phase_row(phase: str, attempts: list[Attempt], seconds: float) -> dict[str, Any]:
    latencies = [a.latency_s * 1000 for a in attempts if a.latency_s is not None]
    return {
        "phase": phase,
        "attempts": len(attempts),
        "no answer": sum(a.status is None for a in attempts),
        "2xx": sum(a.status is not None and 200 <= a.status < 300 for a in attempts),
        "401": sum(a.status == 401 for a in attempts),
        "duplicate": sum(a.duplicate for a in attempts),
        "answers/s": len(latencies) / seconds if seconds else None,
        "p50 ms": _percentile(latencies, 0.50),
        "p99 ms": _percentile(latencies, 0.99),
    }


def _stored(engine: sa.Engine) -> Counter[str]:
    with engine.connect() as connection:
        return Counter(connection.execute(sa.select(webhook_inbox.c.body_sha256)).scalars())


def _free_port(start: int) -> int:
    port = start
    while not port_is_free(port):
        port += 1
    return port


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000, help="distinct valid webhooks")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight at most")
    parser.add_argument("--kill-at", type=float, default=0.4, help="share answered at the kill")
    args = parser.parse_args(argv)
    deliveries = plan(args.events)
    with bench_database("bench_webhook_burst") as engine, tempfile.TemporaryDirectory() as tmp:
        port = _free_port(47100)
        env = {
            "MERGE_PIPELINE_API_KEY": "sk-bench-not-used",
            "MERGE_PIPELINE_BASE_URL": "http://127.0.0.1:9/api",  # webhooks never call Merge
            "MERGE_PIPELINE_DATABASE_URL": engine.url.render_as_string(hide_password=False),
            "MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY": generate_key(),
            "MERGE_PIPELINE_WEBHOOK_SIGNING_KEY": SIGNING_KEY,
        }
        log_file = Path(tmp) / "receiver.log"
        process = receiver_process(port, env, log_file)
        process.start()
        try:
            process.wait_ready()
            url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
            burst, seconds = asyncio.run(
                _run_burst(process, url, deliveries, args.concurrency, args.kill_at)
            )
        finally:
            process.stop()
        tracebacks = log_file.read_text(errors="replace").count("Traceback")
        stored = _stored(engine)

    valid = {hashlib.sha256(d.body).hexdigest() for d in deliveries if d.kind == "valid"}
    forged = {hashlib.sha256(d.body).hexdigest() for d in deliveries if d.kind == "forged"}
    kinds = Counter(d.kind for d in deliveries)
    lost = len(valid - stored.keys())
    forged_stored = len(forged & stored.keys())
    stored_twice = sum(1 for n in stored.values() if n > 1)
    unexpected = {
        f"{kind} -> {status}": n
        for (kind, status), n in burst.finals.items()
        if (kind == "forged") != (status == 401) or (kind != "forged" and status != 200)
    }
    killed = burst.killed_at or float("inf")
    ready = burst.ready_again_at or float("inf")
    first = min(a.started for a in burst.attempts)
    phases = [
        ("before the kill", [a for a in burst.attempts if a.started < killed], killed - first),
        (
            "kill to ready",
            [a for a in burst.attempts if killed <= a.started < ready],
            ready - killed,
        ),
        (
            "after restart",
            [a for a in burst.attempts if a.started >= ready],
            first + seconds - ready,
        ),
        ("whole burst", burst.attempts, seconds),
    ]
    rows = [_phase_row(name, attempts, span) for name, attempts, span in phases]
    summary = {
        "sent": len(deliveries),
        "valid": kinds["valid"],
        "duplicates_sent": kinds["duplicate"],
        "forged_sent": kinds["forged"],
        "attempts": len(burst.attempts),
        "stored": sum(stored.values()),
        "duplicates_collapsed": rows[-1]["duplicate"],
        "rejected_401": burst.finals[("forged", 401)],
        "lost": lost,
        "forged_stored": forged_stored,
        "stored_twice": stored_twice,
        "unexpected_answers": unexpected,
        "receiver_tracebacks": tracebacks,
        "events_per_s": round(len(valid & stored.keys()) / seconds, 1),
        "p50_ms": rows[-1]["p50 ms"],
        "p99_ms": rows[-1]["p99 ms"],
        "restart_s": round(ready - killed, 2),
        "wall_s": round(seconds, 2),
    }
    publish(
        "webhook_burst",
        f"Webhook burst: {len(deliveries)} signed deliveries, {args.concurrency} in flight, "
        f"receiver SIGKILLed at {args.kill_at:.0%} and restarted",
        rows,
        ["phase", "attempts", "no answer", "2xx", "401", "duplicate", "answers/s", "p50 ms",
         "p99 ms"],
        parameters={**vars(args), "figures": summary},
        plot={"x": "phase", "y": ["p50 ms", "p99 ms"], "ylabel": "answer latency, ms"},
        notes=[
            f"sent {summary['sent']} ({summary['valid']} valid, {summary['duplicates_sent']} "
            f"duplicates, {summary['forged_sent']} forged) in {summary['attempts']} attempts",
            f"stored {summary['stored']}; duplicates collapsed {summary['duplicates_collapsed']}; "
            f"rejected {summary['rejected_401']}; lost {lost}; forged stored {forged_stored}; "
            f"stored twice {stored_twice}; unexpected answers {unexpected or 0}; "
            f"receiver tracebacks {tracebacks}",
            f"throughput {summary['events_per_s']} events/s over {summary['wall_s']} s "
            f"(restart {summary['restart_s']} s); p50 {summary['p50_ms']:.1f} ms, "
            f"p99 {summary['p99_ms']:.1f} ms",
        ],
    )  # fmt: skip
    if lost or forged_stored or stored_twice or unexpected or len(stored) != len(valid):
        raise RuntimeError("the burst lost, doubled or wrongly stored webhooks (see above)")


if __name__ == "__main__":
    main()
