"""Scenario generation: a seed becomes a scenario (its setting and a list of steps).

Pure and deterministic: the same seed always gives the same scenario, so a failing one is
replayed by its seed alone, and :mod:`.shrink` can run any sub-list of its steps.
"""

import random
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

#: small categories keep a scenario to seconds; weights favour the smallest
CATEGORIES = (("filestorage", 4), ("ticketing", 2), ("crm", 2), ("hris", 1))
#: sandbox adversity switches a scenario may turn on, and the fault kind each one counts as
ADVERSITIES: dict[str, tuple[str, Any]] = {
    "hard_deletes": ("hard_deletes", True),
    "visibility_lag": ("visibility_lag_seconds", 1.5),
    "list_order": ("list_order", "unstable"),
    "delete_without_bump": ("delete_without_bump", True),
    "late_parents": ("late_parents", True),
    "short_listings": ("short_listings", True),
}
#: webhook misbehaviours a scenario may turn on, and the sandbox setting of each
WEBHOOK_SETTINGS = {
    "webhook_duplicated": "duplicate_probability",
    "webhook_delayed": "delay_probability",
    "webhook_reordered": "reorder_probability",
}
API_FAULTS = ("rate_limit_storm", "server_error_burst", "slow_responses", "dropped_connections")
DURING_SYNC = ("mutations_during_fetch", "pg_connections_cut", "pg_restarted", "relink_needed")
#: kinds a generator can be asked to include (the short run covers them all)
STEP_KINDS = (
    *API_FAULTS,
    *DURING_SYNC,
    "sync_killed",
    "receiver_killed",
    "webhook_lost",
)


@dataclass(frozen=True)
class Step:
    """One action of a scenario; ``args`` say how (all drawn from the seed)."""

    kind: str  # "change" | "sync" | "receiver_kill" | "webhooks_lost" | "skew"
    args: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in self.args.items() if v is not None)
        return f"{self.kind}({shown})"


@dataclass(frozen=True)
class Scenario:
    """A seed's scenario: one fresh account, the sandbox's setting, and the steps."""

    seed: int
    family: str  # "cli" (sync subprocesses) or "dagster" (daemon, sensors, runs)
    category: str
    records: int
    adversity: dict[str, Any]
    webhooks: dict[str, float]
    skew_seconds: float
    steps: tuple[Step, ...]

    def with_steps(self, steps: Iterable[Step]) -> "Scenario":
        return replace(self, steps=tuple(steps))

    def describe(self) -> str:
        lines = [
            f"seed {self.seed} ({self.family}): {self.category}, {self.records} records, "
            f"adversity {self.adversity}, webhooks {self.webhooks}, skew {self.skew_seconds}s"
        ]
        lines += [f"  {n}. {step}" for n, step in enumerate(self.steps, 1)]
        return "\n".join(lines)


def _change(rng: random.Random) -> Step:
    return Step(
        "change",
        {
            "via": rng.choice(("mutate", "merge_sync")),
            "creates": rng.randint(0, 8),
            "updates": rng.randint(0, 8),
            "deletes": rng.randint(0, 4),
        },
    )


def _sync(rng: random.Random, fault: str | None = None, kill: bool | None = None) -> Step:
    api_fault = fault if fault in API_FAULTS else None
    during = fault if fault in DURING_SYNC else None
    if fault is None:
        roll = rng.random()
        if roll < 0.45:
            api_fault = rng.choice(API_FAULTS)
        elif roll < 0.8:
            during = rng.choice(DURING_SYNC)
    if kill is None:
        kill = rng.random() < 0.3
    return Step(
        "sync",
        {
            "api_fault": api_fault,
            "fault_count": rng.randint(2, 4),
            "during": during,
            "during_after": round(rng.uniform(0.3, 1.5), 2),
            "kill_after": round(rng.uniform(0.4, 2.5), 2) if kill else None,
        },
    )


def _step_for(kind: str, rng: random.Random) -> Step:
    if kind == "sync_killed":
        return _sync(rng, fault="", kill=True)
    if kind == "receiver_killed":
        return Step("receiver_kill", {"creates": rng.randint(3, 8), "kill_after": 0.05})
    if kind == "webhook_lost":
        return Step("webhooks_lost", {"creates": rng.randint(1, 4)})
    return _sync(rng, fault=kind, kill=False)


def _forced_steps(wanted: set[str], rng: random.Random) -> list[Step]:
    """Steps that inject the ``wanted`` kinds, packed: one sync carries an API fault, a fault
    during the fetch and a kill at once, so a short run covers every kind in few syncs."""
    api = [k for k in API_FAULTS if k in wanted]
    during = [k for k in DURING_SYNC if k in wanted]
    kill = "sync_killed" in wanted
    steps = []
    for i in range(max(len(api), len(during), int(kill))):
        step = _sync(rng, fault="", kill=kill and i == 0)
        step.args.update(
            api_fault=api[i] if i < len(api) else None,
            during=during[i] if i < len(during) else None,
        )
        steps.append(step)
    if wanted & {"records_created", "records_updated", "soft_deletes", *WEBHOOK_SETTINGS}:
        # a Merge sync: it changes records and sends webhooks (for the webhook kinds)
        steps.append(
            Step("change", {"via": "merge_sync", "creates": 3, "updates": 3, "deletes": 2})
        )
    steps += [_step_for(k, rng) for k in ("receiver_killed", "webhook_lost") if k in wanted]
    return steps


def _dagster_steps(rng: random.Random) -> list[Step]:
    """Merge syncs (webhooks) with the daemon and the code server killed between them."""
    merge_sync = lambda: Step(  # noqa: E731
        "change",
        {"via": "merge_sync", "creates": rng.randint(1, 6), "updates": rng.randint(0, 6),
         "deletes": rng.randint(0, 3)},
    )  # fmt: skip
    steps = [
        merge_sync(),
        Step("daemon_kill", {"after": round(rng.uniform(1.0, 8.0), 1)}),
        merge_sync(),
        Step("code_server_kill", {"after": round(rng.uniform(1.0, 6.0), 1)}),
        Step("api_fault", {"fault": rng.choice(API_FAULTS), "count": rng.randint(2, 4)}),
        merge_sync(),
    ]
    return steps[:1] + rng.sample(steps[1:], len(steps) - 1)


def generate(seed: int, family: str = "cli", include: Iterable[str] = ()) -> Scenario:
    """The scenario of ``seed``; ``include`` names fault kinds it must contain."""
    rng = random.Random(seed)
    wanted = set(include)
    category = rng.choices([c for c, _ in CATEGORIES], [w for _, w in CATEGORIES])[0]
    adversity = {
        ADVERSITIES[kind][0]: ADVERSITIES[kind][1]
        for kind in ADVERSITIES
        if kind in wanted or rng.random() < 0.15
    }
    webhooks = {
        setting: 0.5
        for kind, setting in WEBHOOK_SETTINGS.items()
        if kind in wanted or rng.random() < 0.3
    }
    skew = rng.choice((0.0, 0.0, -600.0, -30.0, 45.0, 3600.0))
    if "clock_skew" in wanted and not skew:
        skew = -600.0
    if family == "dagster":  # the daemon's runs list every model: no sweep-only deletions
        for switch in ("hard_deletes", "delete_without_bump"):
            adversity.pop(switch, None)
        return Scenario(
            seed=seed,
            family=family,
            category=category,
            records=rng.randint(30, 90),
            adversity=adversity,
            webhooks=webhooks,
            skew_seconds=skew,
            steps=tuple(_dagster_steps(rng)),
        )
    steps: list[Step] = [_sync(rng, fault="", kill=False)]  # the initial sync
    if "soft_deletes" in wanted:
        adversity.pop("hard_deletes", None)
    for _ in range(rng.randint(2, 4)):
        roll = rng.random()
        if roll < 0.55:
            steps.append(_change(rng))
        elif roll < 0.85:
            steps.append(_sync(rng))
        elif roll < 0.93:
            steps.append(_step_for(rng.choice(("receiver_killed", "webhook_lost")), rng))
        else:
            steps.append(Step("skew", {"seconds": rng.choice((-20.0, 20.0, 40.0))}))
    for step in _forced_steps(wanted, rng):
        steps.insert(rng.randint(1, len(steps)), step)
    return Scenario(
        seed=seed,
        family=family,
        category=category,
        records=rng.randint(30, 90),
        adversity=adversity,
        webhooks=webhooks,
        skew_seconds=skew,
        steps=tuple(steps),
    )
