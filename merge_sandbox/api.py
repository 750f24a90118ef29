"""The Merge API under ``/api``: authentication, faults, Common Model and platform endpoints.

Handlers return ``(status, body)``; the caller serialises with orjson and adds the ``Date``
header from the virtual clock (see ``app``).
"""

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any

import orjson
from starlette.requests import Request

from merge_sandbox import errors
from merge_sandbox.accounts import LinkedAccount
from merge_sandbox.cursor import Cursor, decode, decode_offset, offset_cursor
from merge_sandbox.errors import ApiError
from merge_sandbox.filters import parse_bool, parse_moment
from merge_sandbox.link_page import link_page_url
from merge_sandbox.payloads import (
    account_details,
    account_token,
    available_actions,
    common_model_scopes,
    issue,
    linked_account,
    per_model_lists,
    sync_status,
)
from merge_sandbox.payloads import link_token as link_token_body
from merge_sandbox.query import ListQuery, parse_list_query, parse_page_size, parse_rendering
from merge_sandbox.render import Renderer
from merge_sandbox.routes import Match, Router, build_routes
from merge_sandbox.schema import ModelSpec
from merge_sandbox.state import LinkRequest, Sandbox
from merge_sandbox.sync import finish_sync, start_sync
from merge_sandbox.table import Row, Scope

#: Handlers that need ``X-Account-Token``; the rest are organisation-level (API key only).
PER_ACCOUNT = frozenset(
    {
        "list",
        "retrieve",
        "sync_status",
        "resync",
        "account_details",
        "delete_account",
        "available_actions",
        "linked_account_scopes",
        "field_mappings",
        "remote_fields",
        "target_fields",
        "webhook_receivers",
    }
)
REQUIRED_LINK_FIELDS = (
    "end_user_email_address",
    "end_user_organization_name",
    "end_user_origin_id",
    "categories",
)

Body = Any


@dataclass(frozen=True, slots=True)
class Call:
    """Everything a handler receives, so every handler has the same one-argument signature."""

    match: Match
    account: LinkedAccount | None
    params: Mapping[str, str]
    request: Request

    def platform_account(self) -> LinkedAccount:
        """The ``X-Account-Token`` account; per-account endpoints cannot run without one."""
        if self.account is None:
            raise errors.invalid_account_token()
        return self.account

    def model_account(self) -> tuple[LinkedAccount, ModelSpec]:
        """The account and the route's Common Model; another category's model is a 404."""
        account = self.platform_account()
        spec = self.match.route.spec
        if spec is None or spec.category != account.category:
            raise errors.not_found()
        return account, spec


Handler = Callable[[Call], Awaitable[tuple[int, Body]]]


def dumps(body: Body) -> bytes:
    return b"" if body is None else orjson.dumps(body)


class MergeApi:
    """Dispatches ``/api/...`` requests against one sandbox."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.router = Router(build_routes(sandbox.schema))
        self._handlers: dict[str, Handler] = {
            "list": self.list_records,
            "retrieve": self.retrieve_record,
            "sync_status": self.sync_status,
            "resync": self.resync,
            "account_details": self.account_details,
            "issues": self.issues,
            "issue": self.issue,
            "link_token": self.link_token,
            "account_token": self.account_token,
            "linked_accounts": self.linked_accounts,
            "delete_account": self.delete_account,
            "available_actions": self.available_actions,
            "linked_account_scopes": self.linked_account_scopes,
            "default_scopes": self.default_scopes,
            "field_mappings": self.per_model_lists,
            "remote_fields": self.per_model_lists,
            "target_fields": self.per_model_lists,
            "webhook_receivers": self.webhook_receivers,
            "audit_trail": self.audit_trail,
        }
        self._listings: dict[tuple[str, str], int] = {}

    # -- authentication -----------------------------------------------------------------

    def check_api_key(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        if self.sandbox.faults.bad_api_key or scheme.lower() != "bearer":
            raise errors.invalid_api_key()
        if key.strip() != self.sandbox.config.api_key:
            raise errors.invalid_api_key()

    def account_for(self, request: Request) -> LinkedAccount | None:
        return self.sandbox.account_by_token(request.headers.get("x-account-token"))

    # -- entry point --------------------------------------------------------------------

    def resolve(self, method: str, path: str) -> Match:
        match, exists = self.router.match(method, path)
        if match is None:
            raise errors.method_not_allowed(method) if exists else errors.not_found()
        return match

    async def handle(
        self, match: Match, account: LinkedAccount | None, request: Request
    ) -> tuple[int, Body]:
        """Run the matched handler (authentication and faults are the caller's business)."""
        params = {k: v for k, v in request.query_params.multi_items()}
        call = Call(match, account, params, request)
        return await self._handlers[match.route.handler](call)

    # -- Common Models ------------------------------------------------------------------

    def _parent_scope(
        self, match: Match, account: LinkedAccount
    ) -> tuple[int | None, tuple[int, int] | None]:
        route = match.route
        if route.parent is None or not route.params:
            return None, None
        parent_model = f"{route.category}.{route.parent}"
        parent_id = match.values[route.params[0]]
        index = self.sandbox.locate(account, parent_model, parent_id)
        if index is None:
            raise errors.not_found()
        if route.primary:
            return index, None
        return None, (index, account.tables[parent_model].layout.count)

    async def list_records(self, call: Call) -> tuple[int, Body]:
        account, spec = call.model_account()
        match = call.match
        query = parse_list_query(spec, call.params, self.sandbox.config)
        parent_index, stride = self._parent_scope(match, account)
        cursor = decode(query.cursor) if query.cursor else None
        scope = Scope(
            modified_after=query.modified_after,
            modified_before=query.modified_before,
            created_after=query.created_after,
            created_before=query.created_before,
            include_deleted=query.include_deleted,
            parent_index=parent_index,
            stride=stride,
            remote_id=query.remote_id,
            predicate=_all(query.predicates),
        )
        position = (cursor.modified_us, cursor.key) if cursor else None
        table = account.tables[spec.model_id]
        if self._descending(cursor):
            rows, next_cursor = _descending_page(table.scan(scope, position, True), query)
            previous_cursor = None
        else:
            reverse = cursor is not None and cursor.reverse
            skip = cursor.offset if cursor else 0
            rows = list(
                islice(table.scan(scope, position, reverse), skip, skip + query.page_size + 1)
            )
            more = len(rows) > query.page_size
            rows = rows[: query.page_size]
            if reverse:
                rows.reverse()
            next_cursor, previous_cursor = _page_links(rows, more, cursor)
            listing = f"{account.id}:{spec.model_id}:{_listing_key(call)}"
            next_cursor = self._maybe_cycle(next_cursor, more, cursor, listing)
        if cursor is None and self._cut_short(account, spec, query, _listing_key(call)):
            # a well-formed last page that is not the last: half this page, no next
            rows, next_cursor = (rows, None) if next_cursor else (rows[: len(rows) // 2], None)
        if self.sandbox.adversity.list_order == "unstable":
            rows = self.sandbox.random.sample(rows, len(rows))
        renderer = Renderer(self.sandbox, account)
        results = [renderer.render(spec, row, query.rendering) for row in rows]
        return 200, {"next": next_cursor, "previous": previous_cursor, "results": results}

    def _maybe_cycle(
        self, next_cursor: str | None, more: bool, cursor: Cursor | None, listing: str
    ) -> str | None:
        """``next_cycles``: once per listing (path, parent and filters), its last page names the
        cursor of its second page instead of ``null`` (A -> B -> A); read again, it ends."""
        if not self.sandbox.adversity.next_cycles or (cursor is not None and cursor.reverse):
            return next_cursor
        if cursor is None:  # the first page: remember where the listing went next
            if next_cursor is not None:
                self.sandbox.listing_starts[listing] = next_cursor
            return next_cursor
        if more or listing in self.sandbox.cycled_listings:
            return next_cursor
        second = self.sandbox.listing_starts.get(listing)
        if second is None:
            return next_cursor
        self.sandbox.cycled_listings.add(listing)
        return second

    def _descending(self, cursor: Cursor | None) -> bool:
        """Newest first? A listing keeps the direction its first page was served in."""
        if cursor is not None:
            return cursor.descending
        order = self.sandbox.adversity.list_order
        return order == "descending" or (order == "unstable" and self.sandbox.random.random() < 0.5)

    def _cut_short(
        self, account: LinkedAccount, spec: ModelSpec, query: ListQuery, listing: str
    ) -> bool:
        """Adversity ``short_listings``: every second full listing of a scope ends early.

        Only listings of models without ``modified_after``: those are re-read in full each
        time, so a short one looks like mass deletion; a client that confirms before marking
        rows absent sees the complete listing that follows.
        """
        if not self.sandbox.adversity.short_listings or query.modified_after is not None:
            return False
        if "modified_after" in spec.model.list_params:
            return False
        key = (account.id, listing)
        self._listings[key] = self._listings.get(key, 0) + 1
        return self._listings[key] % 2 == 0

    async def retrieve_record(self, call: Call) -> tuple[int, Body]:
        account, spec = call.model_account()
        rendering = parse_rendering(spec, call.params)
        parent_index, _ = self._parent_scope(call.match, account)
        index = self.sandbox.locate(account, spec.model_id, call.match.values.get("id", ""))
        if index is None:
            raise errors.not_found()
        row = account.tables[spec.model_id].get(index)
        if (
            row is None
            or row.purged
            or (parent_index is not None and row.parent_index != parent_index)
        ):
            raise errors.not_found()
        return 200, Renderer(self.sandbox, account).render(spec, row, rendering)

    # -- per-account platform endpoints -------------------------------------------------

    async def sync_status(self, call: Call) -> tuple[int, Body]:
        account = call.platform_account()
        omit = self.sandbox.config.sync_status_omits
        rows = [sync_status(row, omit) for row in account.sync.values()]
        return 200, self._offset_page(rows, call.params)

    async def resync(self, call: Call) -> tuple[int, Body]:
        account = call.platform_account()
        start_sync(self.sandbox, account)
        body = [sync_status(row) for row in account.sync.values()]
        delay = self.sandbox.config.resync_finish_seconds
        if delay is not None:
            asyncio.get_running_loop().call_later(delay, self._finish_if_running, account.id)
        return 200, body

    def _finish_if_running(self, account_id: str) -> None:
        account = self.sandbox.accounts.get(account_id)
        if account is not None and account.sync_running:
            finish_sync(self.sandbox, account, "DONE")

    async def account_details(self, call: Call) -> tuple[int, Body]:
        return 200, account_details(call.platform_account(), self.sandbox.config)

    async def delete_account(self, call: Call) -> tuple[int, Body]:
        self.sandbox.delete_account(call.platform_account())
        return 200, None

    async def available_actions(self, call: Call) -> tuple[int, Body]:
        return 200, available_actions(call.platform_account(), self.sandbox.schema)

    async def linked_account_scopes(self, call: Call) -> tuple[int, Body]:
        category = call.platform_account().category
        return 200, common_model_scopes(category, self.sandbox.schema)

    async def per_model_lists(self, call: Call) -> tuple[int, Body]:
        return 200, per_model_lists(call.platform_account().category, self.sandbox.schema)

    async def webhook_receivers(self, call: Call) -> tuple[int, Body]:
        call.platform_account()
        return 200, []

    # -- organisation-level endpoints ---------------------------------------------------

    async def issues(self, call: Call) -> tuple[int, Body]:
        sandbox = self.sandbox
        selected = []
        for row in sorted(sandbox.issues.values(), key=lambda i: (i.first_incident_us, i.id)):
            owner = sandbox.accounts.get(row.account_id)
            if _issue_matches(row, owner, call.params):
                selected.append(issue(row, owner))
        return 200, self._offset_page(selected, call.params)

    async def issue(self, call: Call) -> tuple[int, Body]:
        row = self.sandbox.issues.get(call.match.values["id"])
        if row is None:
            raise errors.not_found()
        return 200, issue(row, self.sandbox.accounts.get(row.account_id))

    async def default_scopes(self, call: Call) -> tuple[int, Body]:
        return 200, common_model_scopes(call.match.route.category, self.sandbox.schema)

    async def audit_trail(self, call: Call) -> tuple[int, Body]:
        """No one acts on the sandbox's organisation through a dashboard: an empty trail."""
        return 200, self._offset_page([], call.params)

    async def link_token(self, call: Call) -> tuple[int, Body]:
        try:
            body = orjson.loads(await call.request.body() or b"{}")
        except orjson.JSONDecodeError:
            raise errors.bad_request("invalid_body") from None
        if not isinstance(body, dict):
            raise errors.bad_request("invalid_body")
        for name in REQUIRED_LINK_FIELDS:
            if not body.get(name):
                raise errors.bad_request("missing_field", param=name)
        categories = body["categories"]
        known = self.sandbox.schema.catalog.categories
        if not isinstance(categories, list) or not all(c in known for c in categories):
            raise errors.bad_request("invalid_enum", param="categories", value=categories)
        existing = self.sandbox.account_by_origin(str(body["end_user_origin_id"]))
        request_row = self.sandbox.new_link_token(
            LinkRequest(
                link_token=self.sandbox.make_token("link-token"),
                category=existing.category if existing else categories[0],
                end_user_origin_id=str(body["end_user_origin_id"]),
                end_user_organization_name=str(body["end_user_organization_name"]),
                end_user_email_address=str(body["end_user_email_address"]),
                integration=body.get("integration"),
                relink_account_id=existing.id if existing else None,
            )
        )
        magic = body.get("should_create_magic_link_url") is True
        token = request_row.link_token
        root = self.sandbox.config.magic_link_base or str(call.request.base_url)
        return 200, link_token_body(
            token,
            existing.integration.name if existing else None,
            link_page_url(root, token) if magic else None,
        )

    async def account_token(self, call: Call) -> tuple[int, Body]:
        account_id = self.sandbox.public_tokens.get(call.match.values["public_token"])
        owner = self.sandbox.accounts.get(account_id) if account_id else None
        if owner is None:
            raise ApiError(404, "unknown_public_token")
        return 200, account_token(owner)

    async def linked_accounts(self, call: Call) -> tuple[int, Body]:
        sandbox = self.sandbox
        matching = [a for a in sandbox.accounts.values() if _account_matches(a, call.params)]
        page = self._offset_page(matching, call.params)
        # only the page's accounts are rendered: each carries its integration's model list
        page["results"] = [
            linked_account(a, sandbox.config, sandbox.schema) for a in page["results"]
        ]
        return 200, page

    def _offset_page(self, rows: list[Any], params: Mapping[str, str]) -> dict[str, Any]:
        size = parse_page_size(params, self.sandbox.config)
        start = decode_offset(params["cursor"]) if params.get("cursor") else 0
        page = rows[start : start + size]
        return {
            "next": offset_cursor(start + size) if start + size < len(rows) else None,
            "previous": offset_cursor(max(start - size, 0)) if start > 0 else None,
            "results": page,
        }


def _all(
    predicates: tuple[Callable[[dict[str, Any]], bool], ...],
) -> Callable[[dict[str, Any]], bool] | None:
    if not predicates:
        return None
    return lambda record: all(p(record) for p in predicates)


def _listing_key(call: Call) -> str:
    """One listing of one scope with one set of filters, whatever page of it is asked for."""
    params = sorted((k, v) for k, v in call.params.items() if k not in ("cursor", "page_size"))
    return repr((sorted(call.match.values.items()), params))


def _descending_page(rows: Iterator[Row], query: ListQuery) -> tuple[list[Row], str | None]:
    """A page of a newest-first listing and its ``next`` cursor (such a listing has no
    ``previous``)."""
    page = list(islice(rows, query.page_size + 1))
    more = len(page) > query.page_size
    page = page[: query.page_size]
    if not (more and page):
        return page, None
    last = page[-1]
    return page, Cursor(last.modified_us, last.key, True, descending=True).encode()


def _page_links(
    rows: list[Row], more: bool, cursor: Cursor | None
) -> tuple[str | None, str | None]:
    """``(next, previous)`` cursors for a page in ascending order."""

    def at(row: Row, reverse: bool) -> str:
        return Cursor(row.modified_us, row.key, reverse).encode()

    if cursor is None or not cursor.reverse:
        following = at(rows[-1], False) if more and rows else None
        if cursor is None:
            return following, None
        earlier = (
            at(rows[0], True) if rows else Cursor(cursor.modified_us, cursor.key, True).encode()
        )
        return following, earlier
    following = (
        at(rows[-1], False) if rows else Cursor(cursor.modified_us, cursor.key, False).encode()
    )
    return following, (at(rows[0], True) if more and rows else None)


def _issue_matches(row: Any, owner: LinkedAccount | None, params: Mapping[str, str]) -> bool:
    checks: list[bool] = []
    if "status" in params:
        checks.append(row.status == params["status"])
    if "linked_account_id" in params:
        checks.append(row.account_id == params["linked_account_id"])
    if "account_token" in params:
        checks.append(owner is not None and owner.account_token == params["account_token"])
    if "end_user_organization_name" in params:
        checks.append(
            owner is not None
            and owner.end_user_organization_name == params["end_user_organization_name"]
        )
    if "integration_name" in params:
        checks.append(owner is not None and owner.integration.name == params["integration_name"])
    if not ("include_muted" in params and parse_bool("include_muted", params["include_muted"])):
        checks.append(not row.is_muted)
    bounds = (
        ("first_incident_time_after", row.first_incident_us, True),
        ("start_date", row.first_incident_us, True),
        ("first_incident_time_before", row.first_incident_us, False),
        ("end_date", row.first_incident_us, False),
        ("last_incident_time_after", row.last_incident_us, True),
        ("last_incident_time_before", row.last_incident_us, False),
    )
    for name, value, after in bounds:
        if name in params:
            moment = parse_moment(name, params[name])
            checks.append(value > moment if after else value < moment)
    return all(checks)


def _csv(value: str) -> set[str]:
    return {v for v in value.split(",") if v}


def _account_matches(account: LinkedAccount, params: Mapping[str, str]) -> bool:
    checks = [
        ("category", lambda v: account.category == v),
        ("status", lambda v: account.status == v),
        ("id", lambda v: account.id == v),
        ("ids", lambda v: account.id in _csv(v)),
        ("end_user_origin_id", lambda v: account.end_user_origin_id == v),
        ("end_user_origin_ids", lambda v: account.end_user_origin_id in _csv(v)),
        ("end_user_email_address", lambda v: account.end_user_email_address == v),
        ("end_user_organization_name", lambda v: account.end_user_organization_name == v),
        ("integration_name", lambda v: account.integration.name == v),
    ]
    if not all(test(params[name]) for name, test in checks if name in params):
        return False
    # CONTRACT §5: with ``is_test_account`` only test accounts, otherwise only the others.
    wants_test = "is_test_account" in params and parse_bool(
        "is_test_account", params["is_test_account"]
    )
    return account.is_test == wants_test
