"""The control API under ``/_sandbox/``: accounts, clock, syncs, faults, webhooks, ground truth.

Also the end user's side of Merge Link (``/_sandbox/link/<link_token>``, ``link_page.py``).

Not part of Merge: tests and demos drive the sandbox through it (``merge_sandbox.admin`` wraps
it). Bodies are JSON; errors are ``{"detail": ...}`` with status 400/404.
"""

from collections.abc import Awaitable, Callable
from dataclasses import fields
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, Router

from merge_sandbox.accounts import ACCOUNT_STATUSES, LinkedAccount
from merge_sandbox.adversity import Adversity
from merge_sandbox.changes import change_moment, delete_row
from merge_sandbox.faults import GARBLES, PLAN_LIMITS, FaultRule
from merge_sandbox.link_page import link_page_routes
from merge_sandbox.payloads import issue, sync_status
from merge_sandbox.query import Rendering
from merge_sandbox.render import Renderer
from merge_sandbox.schedule import SyncSchedule
from merge_sandbox.state import Sandbox
from merge_sandbox.sync import (
    apply_changes,
    complete_link,
    finish_sync,
    mark_relink_needed,
    run_sync,
    set_model_status,
    set_paused,
)
from merge_sandbox.table import Row, Scope
from merge_sandbox.timefmt import US_PER_SECOND, parse_iso, to_iso
from merge_sandbox.webhooks import WebhookSettings

Json = Any
DEFAULT_LINKED_RECORDS = 200
_SETTABLE_CONFIG = frozenset(
    {
        "api_key",
        "page_size_over_max",
        "invalid_page_size",
        "issue_error_description",
        "sync_interval_seconds",
        "resync_finish_seconds",
        "default_page_size",
        "max_page_size",
    }
)


class AdminError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def json_response(body: Json, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise AdminError(400, "body is not JSON") from None
    if not isinstance(body, dict):
        raise AdminError(400, "body must be a JSON object")
    return body


def account_summary(account: LinkedAccount) -> dict[str, Any]:
    return {
        "id": account.id,
        "account_token": account.account_token,
        "category": account.category,
        "integration": account.integration.slug,
        "end_user_origin_id": account.end_user_origin_id,
        "end_user_organization_name": account.end_user_organization_name,
        "status": account.status,
        "is_test": account.is_test,
        "models": {m: t.size for m, t in account.tables.items()},
    }


class BackgroundMutations:
    """Optional steady change rate (records/second) applied by a background task."""

    def __init__(self) -> None:
        self.per_second = 0.0
        self.account_id: str | None = None
        self._carry = 0.0

    def due(self, elapsed: float) -> int:
        self._carry += self.per_second * elapsed
        count = int(self._carry)
        self._carry -= count
        return count


class AdminApi:
    """Route handlers over one sandbox."""

    def __init__(
        self, sandbox: Sandbox, background: BackgroundMutations, schedule: SyncSchedule
    ) -> None:
        self.sandbox = sandbox
        self.background = background
        self.schedule = schedule

    def account(self, request: Request) -> LinkedAccount:
        account = self.sandbox.accounts.get(request.path_params["account_id"])
        if account is None:
            raise AdminError(404, "unknown account")
        return account

    def model_id(self, account: LinkedAccount, request: Request) -> str:
        model_id = str(request.path_params["model_id"])
        if "." not in model_id:
            model_id = f"{account.category}.{model_id}"
        if model_id not in account.tables:
            raise AdminError(404, f"account has no model {model_id}")
        return model_id

    # -- accounts -------------------------------------------------------------------------

    async def health(self, request: Request) -> Json:
        return {"ok": True, "accounts": len(self.sandbox.accounts)}

    async def list_accounts(self, request: Request) -> Json:
        return [account_summary(a) for a in self.sandbox.accounts.values()]

    async def create_account(self, request: Request) -> Json:
        body = await _body(request)
        if body.get("category") not in self.sandbox.schema.catalog.categories:
            raise AdminError(400, "category must be one of the catalog's categories")
        account = self.sandbox.create_account(
            body["category"],
            int(body.get("records", DEFAULT_LINKED_RECORDS)),
            end_user_origin_id=body.get("end_user_origin_id"),
            end_user_organization_name=body.get("end_user_organization_name"),
            end_user_email_address=body.get("end_user_email_address"),
            integration=body.get("integration"),
            is_test=bool(body.get("is_test", False)),
        )
        return account_summary(account)

    async def get_account(self, request: Request) -> Json:
        account = self.account(request)
        summary = account_summary(account)
        summary["sync_status"] = [sync_status(r) for r in account.sync.values()]
        return summary

    # -- clock ----------------------------------------------------------------------------

    async def get_clock(self, request: Request) -> Json:
        clock = self.sandbox.clock
        return {
            "now": to_iso(clock.now_us()),
            "frozen": clock.is_frozen,
            "offset_seconds": clock.offset_us / US_PER_SECOND,
        }

    async def set_clock(self, request: Request) -> Json:
        body = await _body(request)
        clock = self.sandbox.clock
        if "skew_seconds" in body:
            clock.skew(float(body["skew_seconds"]))
        if body.get("freeze"):
            clock.freeze(parse_iso(body["at"]) if body.get("at") else None)
        elif body.get("set"):
            clock.set(parse_iso(body["set"]))
        if body.get("unfreeze"):
            clock.unfreeze()
        if "advance_seconds" in body:
            clock.advance(float(body["advance_seconds"]))
        return await self.get_clock(request)

    # -- syncs and records ----------------------------------------------------------------

    async def sync(self, request: Request) -> Json:
        account = self.account(request)
        body = await _body(request)
        try:
            summary = run_sync(
                self.sandbox,
                account,
                creates=int(body.get("creates", 0)),
                updates=int(body.get("updates", 0)),
                deletes=int(body.get("deletes", 0)),
                status=str(body.get("status", "DONE")),
                finish=bool(body.get("finish", True)),
                models=body.get("models"),
                model_statuses=body.get("model_statuses"),
            )
        except ValueError as error:
            raise AdminError(400, str(error)) from None
        return {
            "changes": summary.as_dict(),
            "sync_status": [sync_status(r) for r in account.sync.values()],
        }

    async def finish(self, request: Request) -> Json:
        account = self.account(request)
        body = await _body(request)
        try:
            finish_sync(
                self.sandbox, account, str(body.get("status", "DONE")), body.get("model_statuses")
            )
        except ValueError as error:
            raise AdminError(400, str(error)) from None
        return {"sync_status": [sync_status(r) for r in account.sync.values()]}

    async def mutate(self, request: Request) -> Json:
        """Change records now: ``{"model", "creates", "updates", "deletes", "ids"?, "op"?}``."""
        account = self.account(request)
        body = await _body(request)
        model = body.get("model")
        models = None
        if model:
            model_id = model if "." in model else f"{account.category}.{model}"
            if model_id not in account.tables:
                raise AdminError(404, f"account has no model {model_id}")
            models = [model_id]
        if body.get("ids"):
            if models is None:
                raise AdminError(400, "ids need a model")
            return {
                "changes": self._mutate_ids(
                    account, models[0], body["ids"], str(body.get("op", "update"))
                )
            }
        summary = apply_changes(
            self.sandbox,
            account,
            creates=int(body.get("creates", 0)),
            updates=int(body.get("updates", 0)),
            deletes=int(body.get("deletes", 0)),
            models=models or list(account.tables),
        )
        return {"changes": summary.as_dict()}

    def _mutate_ids(self, account: LinkedAccount, model_id: str, ids: list[str], op: str) -> Json:
        table = account.tables[model_id]
        done = []
        for record_id in ids:
            index = self.sandbox.locate(account, model_id, record_id)
            if index is None:
                raise AdminError(404, f"unknown record {record_id}")
            row = (
                table.update(index, change_moment(self.sandbox))
                if op == "update"
                else delete_row(self.sandbox, table, index)
            )
            if row is not None:
                done.append(row.key)
        return {"updated" if op == "update" else "deleted": {model_id: done}}

    async def model_status(self, request: Request) -> Json:
        account = self.account(request)
        model_id = self.model_id(account, request)
        body = await _body(request)
        try:
            set_model_status(self.sandbox, account, model_id, body.get("status"))
        except ValueError as error:
            raise AdminError(400, str(error)) from None
        return sync_status(account.sync[model_id])

    async def records(self, request: Request) -> Json:
        """Ground truth: every record, deleted ones included, in ``(modified_at, key)`` order.

        Rendered as a list call without ``expand`` would render them (``include_remote_data``
        and ``include_sensitive_fields`` may be passed as query parameters).
        """
        account = self.account(request)
        model_id = self.model_id(account, request)
        table = account.tables[model_id]
        limit = int(request.query_params.get("limit", "100000"))
        rows: list[Row] = []
        for row in table.scan(Scope(include_deleted=True)):
            if len(rows) >= limit:
                break
            rows.append(row)
        params = request.query_params
        rendering = Rendering(
            include_remote_data=params.get("include_remote_data") == "true",
            include_sensitive_fields=params.get("include_sensitive_fields") == "true",
        )
        renderer = Renderer(self.sandbox, account)
        return {
            "model_id": model_id,
            "count": len(rows),
            "records": [renderer.render(table.spec, r, rendering) for r in rows],
            "deleted": [r.key for r in rows if r.deleted],
            "parents": {r.key: r.parent_index for r in rows if r.parent_index is not None},
            # the parent's key: lets an oracle tell children of deleted parents apart
            "parent_keys": {
                r.key: table.records.parent_id(table.spec, r.parent_index)
                for r in rows
                if r.parent_index is not None
            },
        }

    # -- relink and link ------------------------------------------------------------------

    async def account_status(self, request: Request) -> Json:
        """Set the linked-account status directly (IDLE, INCOMPLETE, COMPLETE...)."""
        account = self.account(request)
        status = (await _body(request)).get("status")
        if status not in ACCOUNT_STATUSES:
            raise AdminError(400, f"status must be one of {', '.join(ACCOUNT_STATUSES)}")
        account.status = status
        return account_summary(account)

    async def pause(self, request: Request) -> Json:
        """``{"paused": true}``: IDLE with every model PAUSED, not synced; false lifts it."""
        account = self.account(request)
        set_paused(account, bool((await _body(request)).get("paused", True)))
        summary = account_summary(account)
        summary["sync_status"] = [sync_status(r) for r in account.sync.values()]
        return summary

    # -- Merge's own sync schedule --------------------------------------------------------

    async def sync_schedule(self, request: Request) -> Json:
        """``{every_seconds, duration_seconds, creates, updates, deletes}`` (0 s: off)."""
        if request.method == "PUT":
            self.schedule.update(await _body(request))
        return self.schedule.describe()

    async def scheduled_result(self, request: Request) -> Json:
        """``{"result": "FAILED"}``: how this account's scheduled syncs end (null: DONE)."""
        account = self.account(request)
        try:
            self.schedule.set_result(account.id, (await _body(request)).get("result"))
        except ValueError as error:
            raise AdminError(400, str(error)) from None
        return {"account_id": account.id, "result": self.schedule.results.get(account.id, "DONE")}

    async def relink_needed(self, request: Request) -> Json:
        account = self.account(request)
        body = await _body(request)
        row = mark_relink_needed(self.sandbox, account, body.get("error_description"))
        return issue(row, account)

    async def complete_link(self, request: Request) -> Json:
        body = await _body(request)
        link = self.sandbox.link_requests.get(str(body.get("link_token")))
        if link is None:
            raise AdminError(404, "unknown link token")
        account, public_token, relink = complete_link(
            self.sandbox,
            link,
            int(body.get("records", DEFAULT_LINKED_RECORDS)),
            finish_initial_sync=bool(body.get("finish_initial_sync", True)),
            is_test=bool(body.get("is_test", False)),
        )
        return {"public_token": public_token, "account_id": account.id, "is_relink": relink}

    # -- webhooks -------------------------------------------------------------------------

    async def get_webhooks(self, request: Request) -> Json:
        return self.sandbox.webhooks.settings.as_dict()

    async def set_webhooks(self, request: Request) -> Json:
        body = await _body(request)
        settings = self.sandbox.webhooks.settings
        known = {f.name for f in fields(WebhookSettings)}
        unknown = set(body) - known
        if unknown:
            raise AdminError(400, f"unknown webhook settings: {sorted(unknown)}")
        for name, value in body.items():
            if name == "event_names":
                settings.event_names.update(value)
            else:
                setattr(settings, name, value)
        return settings.as_dict()

    async def deliveries(self, request: Request) -> Json:
        hooks = self.sandbox.webhooks
        if request.method == "DELETE":
            hooks.clear_log()
        return {"pending": hooks.pending, "deliveries": hooks.log, "events": hooks.events}

    # -- faults, counters, config ---------------------------------------------------------

    async def faults(self, request: Request) -> Json:
        faults = self.sandbox.faults
        if request.method == "DELETE":
            faults.clear()
        elif request.method == "POST":
            body = await _body(request)
            known = {f.name for f in fields(FaultRule)}
            if body.get("kind") not in ("error", "slow", "drop", "garble") or set(body) - known:
                raise AdminError(
                    400, "fault needs kind error|slow|drop|garble and known fields only"
                )
            if body["kind"] == "garble" and body.get("shape", "invalid_json") not in GARBLES:
                raise AdminError(400, f"garble shape must be one of {', '.join(sorted(GARBLES))}")
            faults.rules.append(FaultRule(**body))
        return faults.describe()

    async def rate_limit(self, request: Request) -> Json:
        body = await _body(request)
        key = body.get("account_id") or "*"
        limit = body.get("per_minute")
        if body.get("plan"):
            limit = PLAN_LIMITS[str(body["plan"])]
        if limit:
            self.sandbox.faults.rate_limits[key] = int(limit)
        else:
            self.sandbox.faults.rate_limits.pop(key, None)
        if body.get("window_seconds"):
            self.sandbox.faults.rate_limit_window_s = float(body["window_seconds"])
        return self.sandbox.faults.describe()

    async def arrivals(self, request: Request) -> Json:
        """When each call of a rate-limited account arrived: ``[[monotonic seconds, path]]``."""
        account_id = request.path_params["account_id"]
        return [list(arrival) for arrival in self.sandbox.faults.arrivals.get(account_id, ())]

    async def bad_api_key(self, request: Request) -> Json:
        body = await _body(request)
        self.sandbox.faults.bad_api_key = bool(body.get("enabled", True))
        return self.sandbox.faults.describe()

    async def requests(self, request: Request) -> Json:
        if request.method == "DELETE":
            self.sandbox.faults.requests.clear()
        return self.sandbox.faults.counters()

    async def config(self, request: Request) -> Json:
        config = self.sandbox.config
        if request.method == "PUT":
            body = await _body(request)
            for name, value in body.items():
                if name == "errors":
                    config.errors = config.errors.updated(value)
                elif name in (
                    "page_size_over_max",
                    "invalid_page_size",
                    "issue_error_description",
                    "api_key",
                    "magic_link_base",
                    "resume_paused_on_request",
                ) or name in (
                    "sync_interval_seconds",
                    "default_page_size",
                    "max_page_size",
                    "sync_status_omits",
                ):
                    setattr(config, name, value)
                else:
                    raise AdminError(400, f"unknown or read-only setting {name}")
        return {
            "api_key": config.api_key,
            "seed": config.seed,
            "default_page_size": config.default_page_size,
            "max_page_size": config.max_page_size,
            "page_size_over_max": config.page_size_over_max,
            "invalid_page_size": config.invalid_page_size,
            "issue_error_description": config.issue_error_description,
            "sync_interval_seconds": config.sync_interval_seconds,
            "resync_finish_seconds": config.resync_finish_seconds,
            "resume_paused_on_request": config.resume_paused_on_request,
            "magic_link_base": config.magic_link_base,
            "sync_status_omits": config.sync_status_omits,
            "errors": {f.name: getattr(config.errors, f.name) for f in fields(config.errors)},
        }

    async def adversity(self, request: Request) -> Json:
        if request.method == "PUT":
            self.sandbox.adversity = self.sandbox.adversity.updated(await _body(request))
        elif request.method == "DELETE":
            self.sandbox.adversity = Adversity()
        return self.sandbox.adversity.describe()

    async def set_background(self, request: Request) -> Json:
        body = await _body(request)
        self.background.per_second = float(body.get("mutations_per_second", 0.0))
        self.background.account_id = body.get("account_id")
        return {
            "mutations_per_second": self.background.per_second,
            "account_id": self.background.account_id,
        }


def _endpoint(
    handler: Callable[[Request], Awaitable[Json]],
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            return json_response(await handler(request))
        except AdminError as error:
            return json_response({"detail": error.detail}, error.status)
        except (KeyError, TypeError, ValueError) as error:
            return json_response({"detail": f"bad request: {error}"}, 400)

    return endpoint


def admin_router(api: AdminApi) -> Router:
    def route(path: str, handler: Callable[[Request], Awaitable[Json]], *methods: str) -> Route:
        return Route(path, _endpoint(handler), methods=list(methods or ("GET",)))

    account = "/_sandbox/accounts/{account_id}"
    return Router(
        [
            route("/_sandbox/health", api.health),
            route("/_sandbox/accounts", api.list_accounts),
            route("/_sandbox/accounts", api.create_account, "POST"),
            route(account, api.get_account),
            route(f"{account}/sync", api.sync, "POST"),
            route(f"{account}/sync/finish", api.finish, "POST"),
            route(f"{account}/mutate", api.mutate, "POST"),
            route(f"{account}/relink-needed", api.relink_needed, "POST"),
            route(f"{account}/status", api.account_status, "POST"),
            route(f"{account}/pause", api.pause, "POST"),
            route(f"{account}/scheduled-syncs", api.scheduled_result, "PUT"),
            route("/_sandbox/syncs", api.sync_schedule, "GET", "PUT"),
            route(f"{account}/models/{{model_id}}/status", api.model_status, "POST"),
            route(f"{account}/models/{{model_id}}/records", api.records),
            route("/_sandbox/link/complete", api.complete_link, "POST"),
            *link_page_routes(api.sandbox),
            route("/_sandbox/clock", api.get_clock),
            route("/_sandbox/clock", api.set_clock, "POST"),
            route("/_sandbox/webhooks", api.get_webhooks),
            route("/_sandbox/webhooks", api.set_webhooks, "PUT"),
            route("/_sandbox/webhooks/deliveries", api.deliveries, "GET", "DELETE"),
            route("/_sandbox/faults", api.faults, "GET", "POST", "DELETE"),
            route("/_sandbox/faults/rate-limit", api.rate_limit, "POST"),
            route("/_sandbox/faults/bad-api-key", api.bad_api_key, "POST"),
            route("/_sandbox/requests", api.requests, "GET", "DELETE"),
            route(f"{account}/arrivals", api.arrivals),
            route("/_sandbox/config", api.config, "GET", "PUT"),
            route("/_sandbox/background", api.set_background, "POST"),
            route("/_sandbox/adversity", api.adversity, "GET", "PUT", "DELETE"),
        ]
    )
