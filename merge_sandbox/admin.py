"""``SandboxAdmin``: a typed Python client for the sandbox's ``/_sandbox/`` control API."""

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

Json = Any


@dataclass(frozen=True)
class AccountInfo:
    """A linked account as the control API reports it (tokens included)."""

    id: str
    account_token: str
    category: str
    integration: str
    end_user_origin_id: str
    end_user_organization_name: str
    status: str
    is_test: bool
    models: Mapping[str, int]

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> "AccountInfo":
        return cls(**{name: raw[name] for name in cls.__dataclass_fields__})

    @property
    def record_count(self) -> int:
        return sum(self.models.values())


@dataclass(frozen=True)
class GroundTruth:
    """Every record of one model of one account, deleted ones included."""

    model_id: str
    records: list[dict[str, Any]]
    deleted: frozenset[str]

    def live(self) -> list[dict[str, Any]]:
        return [r for r in self.records if _key(r) not in self.deleted]

    def by_key(self) -> dict[str, dict[str, Any]]:
        return {_key(r): r for r in self.records}


def _key(record: Mapping[str, Any]) -> str:
    return str(record.get("id") or record.get("remote_id"))


def _root(base_url: str) -> str:
    base = base_url.rstrip("/")
    return base.removesuffix("/api")


class SandboxAdmin:
    """Drive a running sandbox: accounts, clock, syncs, faults, webhooks, ground truth."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.root = _root(base_url)
        self.client = httpx.Client(base_url=self.root + "/_sandbox", timeout=timeout)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> "SandboxAdmin":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(
        self, method: str, path: str, body: Mapping[str, Any] | None = None, **params: Any
    ) -> Json:
        query = {k: v for k, v in params.items() if v is not None}
        response = self.client.request(method, path, json=body, params=query)
        if response.status_code >= 400:
            raise RuntimeError(
                f"sandbox admin {method} {path}: {response.status_code} {response.text}"
            )
        return response.json()

    # -- accounts -----------------------------------------------------------------------

    def health(self) -> Json:
        return self._call("GET", "/health")

    def accounts(self) -> list[AccountInfo]:
        return [AccountInfo.from_json(a) for a in self._call("GET", "/accounts")]

    def account(self, account_id: str) -> Json:
        return self._call("GET", f"/accounts/{account_id}")

    def create_account(self, category: str, records: int = 200, **details: Any) -> AccountInfo:
        """A linked, fully synced account (``end_user_origin_id``, ``is_test``... optional)."""
        return AccountInfo.from_json(
            self._call("POST", "/accounts", {"category": category, "records": records, **details})
        )

    # -- clock --------------------------------------------------------------------------

    def clock(self) -> Json:
        return self._call("GET", "/clock")

    def advance_clock(self, seconds: float) -> Json:
        return self._call("POST", "/clock", {"advance_seconds": seconds})

    def skew_clock(self, seconds: float) -> Json:
        """Run ``seconds`` ahead of (negative: behind) real time."""
        return self._call("POST", "/clock", {"skew_seconds": seconds})

    def freeze_clock(self, at: str | None = None) -> Json:
        return self._call("POST", "/clock", {"freeze": True, "at": at})

    def unfreeze_clock(self) -> Json:
        return self._call("POST", "/clock", {"unfreeze": True})

    def set_clock(self, at: str) -> Json:
        return self._call("POST", "/clock", {"set": at})

    # -- syncs and records --------------------------------------------------------------

    def sync(
        self,
        account_id: str,
        creates: int = 0,
        updates: int = 0,
        deletes: int = 0,
        status: str = "DONE",
        finish: bool = True,
        models: Iterable[str] | None = None,
        model_statuses: Mapping[str, str] | None = None,
    ) -> Json:
        """Simulate a Merge sync; with ``finish=False`` the models stay SYNCING."""
        body = {
            "creates": creates,
            "updates": updates,
            "deletes": deletes,
            "status": status,
            "finish": finish,
            "models": list(models) if models else None,
            "model_statuses": dict(model_statuses or {}),
        }
        return self._call("POST", f"/accounts/{account_id}/sync", body)

    def finish_sync(
        self, account_id: str, status: str = "DONE", model_statuses: Mapping[str, str] | None = None
    ) -> Json:
        body = {"status": status, "model_statuses": dict(model_statuses or {})}
        return self._call("POST", f"/accounts/{account_id}/sync/finish", body)

    def mutate(
        self,
        account_id: str,
        model: str | None = None,
        creates: int = 0,
        updates: int = 0,
        deletes: int = 0,
    ) -> Json:
        """Change random records now (outside a sync), e.g. during a client's paging."""
        body = {"model": model, "creates": creates, "updates": updates, "deletes": deletes}
        return self._call("POST", f"/accounts/{account_id}/mutate", body)["changes"]

    def update_records(self, account_id: str, model: str, ids: Iterable[str]) -> Json:
        body = {"model": model, "ids": list(ids), "op": "update"}
        return self._call("POST", f"/accounts/{account_id}/mutate", body)["changes"]

    def delete_records(self, account_id: str, model: str, ids: Iterable[str]) -> Json:
        body = {"model": model, "ids": list(ids), "op": "delete"}
        return self._call("POST", f"/accounts/{account_id}/mutate", body)["changes"]

    def set_model_status(self, account_id: str, model: str, status: str | None) -> Json:
        """DISABLED / PAUSED (None lifts it) or a sync result such as FAILED."""
        return self._call(
            "POST", f"/accounts/{account_id}/models/{model}/status", {"status": status}
        )

    def records(
        self,
        account_id: str,
        model: str,
        limit: int | None = None,
        include_sensitive_fields: bool = False,
        include_remote_data: bool = False,
    ) -> GroundTruth:
        """Every record of ``model`` (deleted ones too), rendered as an unexpanded list call."""
        raw = self._call(
            "GET",
            f"/accounts/{account_id}/models/{model}/records",
            limit=limit,
            include_sensitive_fields=str(include_sensitive_fields).lower(),
            include_remote_data=str(include_remote_data).lower(),
        )
        return GroundTruth(raw["model_id"], raw["records"], frozenset(raw["deleted"]))

    def parent_keys(self, account_id: str, model: str) -> dict[str, str]:
        """A nested model's records: child key -> the key of the parent it hangs under."""
        raw = self._call("GET", f"/accounts/{account_id}/models/{model}/records")
        return {str(k): str(v) for k, v in raw.get("parent_keys", {}).items() if v is not None}

    # -- relink and link ----------------------------------------------------------------

    def set_account_status(self, account_id: str, status: str) -> AccountInfo:
        """COMPLETE, INCOMPLETE, RELINK_NEEDED or IDLE, without side effects."""
        return AccountInfo.from_json(
            self._call("POST", f"/accounts/{account_id}/status", {"status": status})
        )

    def pause_account(self, account_id: str, paused: bool = True) -> Json:
        """IDLE with every model PAUSED (not synced by the schedule); False makes it COMPLETE."""
        return self._call("POST", f"/accounts/{account_id}/pause", {"paused": paused})

    def make_relink_needed(self, account_id: str, error_description: str | None = None) -> Json:
        body = {"error_description": error_description}
        return self._call("POST", f"/accounts/{account_id}/relink-needed", body)

    def complete_link(
        self,
        link_token: str,
        records: int = 200,
        finish_initial_sync: bool = True,
        is_test: bool = False,
    ) -> Json:
        """The end user finishes Merge Link: ``{public_token, account_id, is_relink}``."""
        body = {
            "link_token": link_token,
            "records": records,
            "finish_initial_sync": finish_initial_sync,
            "is_test": is_test,
        }
        return self._call("POST", "/link/complete", body)

    def link_page(self, link_token: str) -> str:
        """The end user's link page (what ``magic_link_url`` opens), as HTML."""
        return self.client.get(f"/link/{link_token}").text

    # -- Merge's own sync schedule --------------------------------------------------------

    def sync_schedule(self, **settings: Any) -> Json:
        """Read or change the background syncs: ``every_seconds`` (0: off),
        ``duration_seconds``, ``creates``/``updates``/``deletes`` per sync."""
        return self._call("PUT" if settings else "GET", "/syncs", settings or None)

    def set_scheduled_result(self, account_id: str, result: str | None) -> Json:
        """FAILED / PARTIALLY_SYNCED: how this account's scheduled syncs end (None: DONE)."""
        return self._call("PUT", f"/accounts/{account_id}/scheduled-syncs", {"result": result})

    # -- webhooks -----------------------------------------------------------------------

    def webhook_settings(self) -> Json:
        return self._call("GET", "/webhooks")

    def configure_webhooks(self, **settings: Any) -> Json:
        """``url``, ``signing_key``, ``strip_padding``, ``event_names``, ``max_attempts``,
        ``backoff_seconds``, ``duplicate_probability``, ``delay_probability``... ."""
        return self._call("PUT", "/webhooks", settings)

    def deliveries(self) -> Json:
        return self._call("GET", "/webhooks/deliveries")

    def clear_deliveries(self) -> Json:
        return self._call("DELETE", "/webhooks/deliveries")

    def wait_for_deliveries(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Poll the delivery log until ``predicate(log)`` holds (or raise TimeoutError)."""
        deadline = time.monotonic() + timeout
        while True:
            log: list[dict[str, Any]] = self.deliveries()["deliveries"]
            if predicate(log):
                return log
            if time.monotonic() > deadline:
                raise TimeoutError(f"webhook deliveries did not arrive: {log}")
            time.sleep(0.05)

    # -- faults and counters ------------------------------------------------------------

    def faults(self) -> Json:
        return self._call("GET", "/faults")

    def add_fault(self, kind: str, **rule: Any) -> Json:
        return self._call("POST", "/faults", {"kind": kind, **rule})

    def garble(
        self,
        shape: str,
        count: int = 1,
        account_id: str | None = None,
        path_contains: str | None = None,
        after: int = 0,
    ) -> Json:
        """The next ``count`` matching answers (after ``after`` good ones) are 200s whose body
        is garbled as ``shape`` says (``merge_sandbox.faults.GARBLES``)."""
        return self.add_fault(
            "garble",
            shape=shape,
            remaining=count,
            account_id=account_id,
            path_contains=path_contains,
            after=after,
        )

    def error_burst(
        self,
        count: int,
        status: int = 500,
        account_id: str | None = None,
        path_contains: str | None = None,
    ) -> Json:
        """The next ``count`` matching Merge API calls fail with ``status``."""
        return self.add_fault(
            "error",
            remaining=count,
            status=status,
            account_id=account_id,
            path_contains=path_contains,
        )

    def slow_responses(
        self,
        seconds: float,
        count: int | None = 1,
        account_id: str | None = None,
        path_contains: str | None = None,
    ) -> Json:
        return self.add_fault(
            "slow",
            remaining=count,
            seconds=seconds,
            account_id=account_id,
            path_contains=path_contains,
        )

    def drop_connections(
        self,
        count: int = 1,
        fraction: float = 0.5,
        account_id: str | None = None,
        path_contains: str | None = None,
    ) -> Json:
        """The next ``count`` matching responses close the connection after part of the body."""
        return self.add_fault(
            "drop",
            remaining=count,
            fraction=fraction,
            account_id=account_id,
            path_contains=path_contains,
        )

    def rate_limit(
        self,
        per_minute: int | None = None,
        plan: str | None = None,
        account_id: str | None = None,
        window_seconds: float | None = None,
    ) -> Json:
        """Per-account limit (``plan``: launch/professional/enterprise); None lifts it.

        ``window_seconds`` shortens Merge's one-minute window (for every limited account), so a
        test can exercise the limit in seconds: ``per_minute`` then means calls per window.
        """
        body = {
            "per_minute": per_minute,
            "plan": plan,
            "account_id": account_id,
            "window_seconds": window_seconds,
        }
        return self._call("POST", "/faults/rate-limit", body)

    def arrivals(self, account_id: str) -> list[tuple[float, str]]:
        """When each Merge API call of a rate-limited account arrived (monotonic s) and its path."""
        return [
            (float(moment), str(path))
            for moment, path in self._call("GET", f"/accounts/{account_id}/arrivals")
        ]

    def bad_api_key(self, enabled: bool = True) -> Json:
        """Reject every API key (as if it had been revoked)."""
        return self._call("POST", "/faults/bad-api-key", {"enabled": enabled})

    def clear_faults(self) -> Json:
        return self._call("DELETE", "/faults")

    def request_counts(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/requests")
        return result

    def reset_request_counts(self) -> None:
        self._call("DELETE", "/requests")

    def count_requests(
        self, account_id: str | None = None, path_contains: str | None = None
    ) -> int:
        """Merge API calls so far, optionally for one account and/or paths containing a text."""
        return sum(
            row["count"]
            for row in self.request_counts()
            if (account_id is None or row["account_id"] == account_id)
            and (path_contains is None or path_contains in row["path"])
        )

    # -- configuration --------------------------------------------------------------------

    def config(self) -> Json:
        return self._call("GET", "/config")

    def update_config(self, **changes: Any) -> Json:
        """``page_size_over_max`` ("clamp"/"error"), ``issue_error_description``, ``errors``..."""
        return self._call("PUT", "/config", changes)

    def set_error_texts(self, **texts: str) -> Json:
        return self.update_config(errors=texts)

    def background_mutations(self, per_second: float, account_id: str | None = None) -> Json:
        body = {"mutations_per_second": per_second, "account_id": account_id}
        return self._call("POST", "/background", body)

    # -- adversity ------------------------------------------------------------------------

    def adversity(self) -> Json:
        return self._call("GET", "/adversity")

    def set_adversity(self, **switches: Any) -> Json:
        """Turn adversity switches on or off (see ``merge_sandbox.adversity.Adversity``)."""
        return self._call("PUT", "/adversity", switches)

    def reset_adversity(self) -> Json:
        """Every switch back to its kind default."""
        return self._call("DELETE", "/adversity")
