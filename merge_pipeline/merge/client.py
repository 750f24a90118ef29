"""The only code that speaks HTTP to Merge: a synchronous, thread-safe client.

One :class:`MergeClient` may serve many threads (httpx's connection pool is thread-safe and the
client keeps no per-call state); every call for a linked account first takes a slot from that
account's rate limiter (per process, or shared by every process through PostgreSQL). Secrets are
read from their ``SecretStr`` and put on the request just before it is sent; they never reach a
log line, an exception or its chain.
"""

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from importlib import metadata
from types import TracebackType
from typing import Any, Self

import httpx
import orjson
from pydantic import SecretStr
from tenacity import RetryCallState

from merge_pipeline.catalog import CommonModel
from merge_pipeline.merge import endpoints
from merge_pipeline.merge.circuit import CircuitBreaker, breaker_for
from merge_pipeline.merge.classify import (
    DEFAULT_AUTH_RULES,
    AuthRules,
    error_detail,
    error_for_response,
)
from merge_pipeline.merge.credentials import AccountCredentials
from merge_pipeline.merge.cursor_trail import CursorTrail, TrailProblem
from merge_pipeline.merge.errors import (
    MalformedCredential,
    MergeError,
    MergeResponseError,
    MergeTransportError,
    MergeUnreachable,
)
from merge_pipeline.merge.hygiene import (
    header_value_problem,
    mask_path,
    mask_public_tokens_in_httpx_logs,
    redact,
)
from merge_pipeline.merge.page import Page, parse_http_date
from merge_pipeline.merge.query import (
    QueryValue,
    checked_filters,
    cursor_from_next,
    expand_value,
    fill_path,
    list_params,
    page_size_for,
)
from merge_pipeline.merge.ratelimit import AccountRateLimiter, RateLimits, process_registry
from merge_pipeline.merge.retry import (
    RETRYABLE_STATUSES,
    RetryPolicy,
    TransientFailure,
    build_retrying,
    parse_retry_after,
)
from merge_pipeline.merge.stats import CallStats
from merge_pipeline.settings import Settings

logger = logging.getLogger(__name__)

Record = dict[str, Any]
#: times a listing is read again from its start after its cursors looped, before it is refused
MAX_LISTING_RESTARTS = 2


def _user_agent() -> str:
    try:
        version = metadata.version("merge-pipeline")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return f"merge-pipeline/{version} (python-httpx/{httpx.__version__})"


@dataclass(slots=True)
class _Call:
    """One logical request to Merge, which may take several attempts."""

    method: str
    path: str
    params: Mapping[str, str] | None = None
    body: Mapping[str, Any] | None = None
    account: AccountCredentials | None = None
    limiter: AccountRateLimiter | None = None
    attempts: int = 0

    @property
    def idempotent(self) -> bool:
        return self.method in ("GET", "HEAD")

    @property
    def shown_path(self) -> str:
        return mask_path(self.path)

    @property
    def linked_account_id(self) -> str | None:
        return self.account.linked_account_id if self.account is not None else None


@dataclass(frozen=True, slots=True)
class _Reply:
    data: Any
    size: int
    server_date: datetime | None
    elapsed: float


@dataclass(frozen=True, slots=True)
class _TransportProblem:
    """An httpx exception reduced to plain data, so the exception (and its request) is dropped."""

    reason: str
    retryable: bool
    request_sent: bool
    #: the host could not be reached at all (refused, name not resolved, connect timeout)
    unreachable: bool = False


#: Failures that may well not happen again: timeouts, resets, bodies cut off mid-transfer.
_TRANSIENT_HTTPX_ERRORS = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
    httpx.DecodingError,
)


def _transport_problem(exc: httpx.HTTPError, secrets: Sequence[str]) -> _TransportProblem:
    message = redact(" ".join(str(exc).split()), secrets)[:200]
    reason = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        unreachable = not isinstance(exc, httpx.PoolTimeout)  # a full pool is our own doing
        return _TransportProblem(
            reason, retryable=True, request_sent=False, unreachable=unreachable
        )
    if isinstance(exc, _TRANSIENT_HTTPX_ERRORS):
        return _TransportProblem(reason, retryable=True, request_sent=True)
    return _TransportProblem(reason, retryable=False, request_sent=True)


class _InvalidJson:
    """Marker for a 2xx body that does not parse (typically cut off mid-transfer)."""


_INVALID_JSON = _InvalidJson()


def _decode(body: bytes) -> Any:
    if not body:
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return _INVALID_JSON


def _reason(error: MergeError) -> str:
    if error.status is None:
        return error.detail or type(error).__name__
    return f"{error.status} {error.detail}" if error.detail else str(error.status)


class MergeClient:
    """Merge's Unified API for the sync engine: paginated Common Models plus account endpoints.

    ``transport`` replaces the network (tests pass an ``httpx.MockTransport``); ``stats`` receives
    the traffic counters (one per sync); ``rate_limiters`` is where each account's limiter comes
    from (default: this process's registry; ``warehouse.rate_limit.SharedRateLimits`` shares the
    budget with every process using the same database); ``sleep`` and ``clock`` are injectable so
    tests never wait; ``breaker`` is the base URL's circuit breaker (default: this process's,
    shared by every client of the same base URL).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.BaseTransport | None = None,
        stats: CallStats | None = None,
        rate_limiters: RateLimits | None = None,
        retry_policy: RetryPolicy | None = None,
        auth_rules: AuthRules = DEFAULT_AUTH_RULES,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.perf_counter,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self._settings = settings
        self._breaker = breaker if breaker is not None else breaker_for(str(settings.base_url))
        self.stats = stats if stats is not None else CallStats()
        self._limiters = rate_limiters if rate_limiters is not None else process_registry()
        self._retry_policy = retry_policy or RetryPolicy.from_settings(settings)
        self._auth_rules = auth_rules
        self._sleep = sleep
        self._clock = clock
        mask_public_tokens_in_httpx_logs()
        self._http = httpx.Client(
            base_url=str(settings.base_url),
            transport=transport,
            timeout=httpx.Timeout(settings.request_timeout_s),
            headers={"Accept": "application/json", "User-Agent": _user_agent()},
            # Merge never redirects (CONTRACT.md §7); following one would send X-Account-Token,
            # which httpx does not strip, to wherever it points.
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"MergeClient(base_url={str(self._http.base_url)!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- Common Models -----------------------------------------------------------------------

    def iter_pages(
        self,
        account: AccountCredentials,
        model: CommonModel,
        *,
        modified_after: datetime | None,
        expand: Sequence[str] = (),
        include_deleted_data: bool = True,
        include_remote_data: bool = False,
        path_params: Mapping[str, str] | None = None,
        page_size: int | None = None,
        cursor: str | None = None,
    ) -> Iterator[Page]:
        """Every page of ``model``'s list, fetched one at a time as the caller iterates.

        Arguments are checked now (ValueError), not at the first ``next()``. ``cursor`` resumes
        from a page's ``cursor``; pass the same other arguments as when it was issued.
        """
        params = list_params(
            model,
            modified_after=modified_after,
            expand=expand,
            include_deleted_data=include_deleted_data,
            include_remote_data=include_remote_data,
            page_size=page_size_for(page_size, self._settings.page_size),
        )
        path = fill_path(model.list_path, path_params or {})
        return self._paginate(path, params, account=account, cursor=cursor)

    def retrieve(
        self,
        account: AccountCredentials,
        model: CommonModel,
        record_id: str,
        expand: Sequence[str] = (),
    ) -> Record:
        """One record by Merge id (``GET {list_path}/{id}``)."""
        if model.retrieve_path is None:
            raise ValueError(f"{model.model_id} has no retrieve-by-id endpoint")
        path = fill_path(model.retrieve_path, {"id": record_id})
        expanded = expand_value(model, expand)
        params = {"expand": expanded} if expanded else None
        call = _Call("GET", path, params, account=account, limiter=self._limiter(account))
        return self._object(call, self._request(call).data)

    # -- linked-account endpoints ------------------------------------------------------------

    def sync_status(self, account: AccountCredentials, category: str) -> list[Record]:
        """Merge's own sync state per model of one account (all pages)."""
        path = endpoints.sync_status_path(category)
        params = {"page_size": str(page_size_for(None, self._settings.page_size))}
        return [
            row for page in self._paginate(path, params, account=account) for row in page.results
        ]

    def account_details(self, account: AccountCredentials, category: str) -> Record:
        """Who the linked account is (integration, end user, status)."""
        path = endpoints.account_details_path(category)
        call = _Call("GET", path, account=account, limiter=self._limiter(account))
        return self._object(call, self._request(call).data)

    # -- organisation endpoints (API key only) -----------------------------------------------

    def issues(self, category: str, **filters: QueryValue) -> Iterator[Record]:
        """Merge's Issues (integration problems per linked account), lazily across pages."""
        params = checked_filters(filters, endpoints.ISSUE_FILTERS, "/issues")
        params["page_size"] = str(page_size_for(None, self._settings.page_size))
        return self._records(self._paginate(endpoints.issues_path(category), params, account=None))

    def linked_accounts(self, category: str, /, **filters: QueryValue) -> Iterator[Record]:
        """The organisation's linked accounts, lazily across pages (``category`` names the path
        prefix; a ``category=`` filter is one of ``filters``)."""
        params = checked_filters(filters, endpoints.LINKED_ACCOUNT_FILTERS, "/linked-accounts")
        params["page_size"] = str(page_size_for(None, self._settings.page_size))
        path = endpoints.linked_accounts_path(category)
        return self._records(self._paginate(path, params, account=None))

    def create_link_token(
        self,
        category: str,
        end_user_origin_id: str,
        end_user_organization_name: str,
        end_user_email_address: str,
        categories: Sequence[str],
        **extra: Any,
    ) -> Record:
        """A Merge Link token for an end user; ``extra`` are the optional body fields."""
        unknown = sorted(set(extra) - endpoints.LINK_TOKEN_OPTIONS)
        if unknown:
            raise ValueError(f"/link-token has no field {', '.join(unknown)}")
        if isinstance(categories, str) or not categories:
            raise ValueError("categories must be a non-empty list of category names")
        body = {
            "end_user_origin_id": end_user_origin_id,
            "end_user_organization_name": end_user_organization_name,
            "end_user_email_address": end_user_email_address,
            "categories": list(categories),
            **extra,
        }
        call = _Call("POST", endpoints.link_token_path(category), body=body)
        return self._object(call, self._request(call).data)

    def exchange_public_token(self, category: str, public_token: str) -> Record:
        """Swap Merge Link's public token for the account (``account_token`` as SecretStr)."""
        call = _Call("GET", endpoints.account_token_path(category, public_token))
        data = self._object(call, self._request(call).data)
        token = data.get("account_token")
        if not isinstance(token, str) or not token:
            raise self._contract_error(call, "no 'account_token' in the response")
        return {**data, "account_token": SecretStr(token)}

    def secret_values(self, account: AccountCredentials | None = None) -> tuple[str, ...]:
        """The secrets a call for ``account`` carries, to redact text we did not write."""
        key = self._settings.api_key.get_secret_value()
        if account is None:
            return (key,)
        return (key, account.account_token.get_secret_value())

    # -- plumbing ------------------------------------------------------------------------------

    def _limiter(self, account: AccountCredentials) -> AccountRateLimiter:
        return self._limiters.for_account(
            account.linked_account_id, self._settings.rate_limit_per_minute
        )

    def _paginate(
        self,
        path: str,
        params: Mapping[str, str],
        *,
        account: AccountCredentials | None,
        cursor: str | None = None,
    ) -> Iterator[Page]:
        """Every page of a listing; a cursor cycle restarts it (bounded), other loops refuse."""
        # Merge's limits are per linked account; organisation calls are rare and go unthrottled.
        limiter = self._limiter(account) if account is not None else None
        start = cursor
        trail = CursorTrail(self._settings.max_pages_per_listing, start)
        restarts = 0
        number = 0
        while True:
            query = dict(params) if cursor is None else {**params, "cursor": cursor}
            call = _Call("GET", path, query, account=account, limiter=limiter)
            reply = self._request(call)
            results, next_cursor = self._page_body(call, reply.data)
            number += 1
            yield Page(
                results=results,
                number=number,
                cursor=cursor,
                next_cursor=next_cursor,
                bytes=reply.size,
                server_date=reply.server_date,
                elapsed=reply.elapsed,
            )
            if next_cursor is None:
                return
            problem = trail.step(next_cursor, page_was_empty=not results)
            if problem is TrailProblem.CYCLE and restarts < MAX_LISTING_RESTARTS:
                # Re-reading from the start is safe (re-applied records are no-ops) and ends a
                # cycle that happened once; a persistent one is refused after a few passes.
                restarts += 1
                self.stats.count_cursor_cycle()
                logger.warning(
                    "%s %s: %s; reading the listing again from its start (pass %d)",
                    call.method,
                    call.shown_path,
                    problem.value,
                    restarts + 1,
                )
                trail = CursorTrail(self._settings.max_pages_per_listing, start)
                cursor = start
                continue
            if problem is not None:
                raise self._contract_error(call, problem.value)
            cursor = next_cursor

    @staticmethod
    def _records(pages: Iterator[Page]) -> Iterator[Record]:
        for page in pages:
            yield from page.results

    def _page_body(self, call: _Call, data: Any) -> tuple[list[Record], str | None]:
        if not isinstance(data, dict) or not isinstance(data.get("results"), list):
            raise self._contract_error(call, "expected an object with a 'results' list")
        problem: str | None = None
        try:
            next_cursor = cursor_from_next(data.get("next"))
        except ValueError as exc:
            problem = str(exc)
        if problem is not None:
            raise self._contract_error(call, problem)
        return data["results"], next_cursor

    def _object(self, call: _Call, data: Any) -> Record:
        if not isinstance(data, dict):
            raise self._contract_error(call, "expected a JSON object")
        return data

    @staticmethod
    def _contract_error(call: _Call, detail: str) -> MergeResponseError:
        return MergeResponseError(
            method=call.method,
            path=call.shown_path,
            status=None,
            detail=detail,
            attempts=call.attempts,
            linked_account_id=call.linked_account_id,
        )

    def _request(self, call: _Call) -> _Reply:
        """Send ``call`` with retries; raise the last attempt's error, chain-free, if it fails."""
        retrying = build_retrying(
            self._retry_policy, sleep=self._sleep, before_sleep=partial(self._before_sleep, call)
        )
        try:
            return retrying(self._attempt, call)
        except TransientFailure as failure:
            error = failure.error
        # Raised outside the except block so it has no __context__ (see errors.py).
        raise error

    def _before_sleep(self, call: _Call, retry_state: RetryCallState) -> None:
        outcome = retry_state.outcome
        failure = outcome.exception() if outcome is not None else None
        if not isinstance(failure, TransientFailure):
            return
        wait = retry_state.upcoming_sleep
        self.stats.count_retry(wait)
        if failure.error.status == 429 and call.limiter is not None:
            # The account is over its budget: hold back this account's other threads as well.
            call.limiter.pause_for(wait)
        # a failure to connect is the circuit breaker's to report if it persists (one line)
        unsent = failure.error.status is None and self._breaker.state.failures > 0
        logger.log(
            logging.INFO if unsent else logging.WARNING,
            "Retrying %s %s after %s (attempt %d of %d failed; waiting %.2fs)",
            call.method,
            call.shown_path,
            _reason(failure.error),
            retry_state.attempt_number,
            self._retry_policy.max_retries + 1,
            wait,
        )

    def _secrets(self, call: _Call) -> tuple[str, ...]:
        """The call's secrets, refused (unquoted) if one cannot be sent as a header."""
        key = self._settings.api_key.get_secret_value()
        named = [("the API key (MERGE_PIPELINE_API_KEY)", key)]
        if call.account is not None:
            token = call.account.account_token.get_secret_value()
            named.append((f"the account token of linked account {call.linked_account_id}", token))
        for name, value in named:
            problem = header_value_problem(value)
            if problem is not None:
                raise MalformedCredential(
                    method=call.method,
                    path=call.shown_path,
                    detail=f"{name} {problem}",
                    attempts=call.attempts,
                    linked_account_id=call.linked_account_id,
                )
        return tuple(value for _, value in named)

    def _attempt(self, call: _Call) -> _Reply:
        call.attempts += 1
        secrets = self._secrets(call)
        if not self._breaker.allows():
            raise self._unreachable(call)
        if call.limiter is not None:
            self.stats.add_rate_limit_wait(call.limiter.acquire())
        request = self._http.build_request(
            call.method, call.path, params=call.params, json=call.body
        )
        request.headers["Authorization"] = f"Bearer {secrets[0]}"
        if call.account is not None:
            request.headers["X-Account-Token"] = secrets[1]
        self.stats.count_call()
        started = self._clock()
        outcome = self._send(request, secrets)
        elapsed = self._clock() - started
        if isinstance(outcome, _TransportProblem):
            if outcome.unreachable and self._breaker.record_connect_failure(outcome.reason):
                self.stats.count_transport_error()
                raise self._unreachable(call)
            raise self._transport_failure(call, outcome, elapsed)
        self._breaker.record_success()
        return self._reply(call, outcome, elapsed, secrets)

    def _unreachable(self, call: _Call) -> MergeUnreachable:
        """The open circuit's error: not retried, so no call waits on a host that is not there."""
        url = httpx.URL(str(self._settings.base_url))
        host = f"{url.host}:{url.port}" if url.port else url.host
        return MergeUnreachable(
            host=host,
            method=call.method,
            path=call.shown_path,
            detail=self._breaker.state.reason,
            attempts=call.attempts,
            linked_account_id=call.linked_account_id,
        )

    def _send(
        self, request: httpx.Request, secrets: Sequence[str]
    ) -> httpx.Response | _TransportProblem:
        try:
            return self._http.send(request)
        except httpx.HTTPError as exc:
            return _transport_problem(exc, secrets)

    def _transport_failure(
        self, call: _Call, problem: _TransportProblem, elapsed: float
    ) -> MergeError | TransientFailure:
        self.stats.count_transport_error()
        logger.debug(
            "%s %s failed after %.3fs: %s", call.method, call.shown_path, elapsed, problem.reason
        )
        error = MergeTransportError(
            method=call.method,
            path=call.shown_path,
            detail=problem.reason,
            attempts=call.attempts,
            linked_account_id=call.linked_account_id,
        )
        if problem.retryable and (call.idempotent or not problem.request_sent):
            return TransientFailure(error)
        return error

    def _reply(
        self, call: _Call, response: httpx.Response, elapsed: float, secrets: Sequence[str]
    ) -> _Reply:
        body = response.content
        status = response.status_code
        server_date = parse_http_date(response.headers.get("Date"))
        self.stats.add_bytes(len(body))
        logger.debug(
            "%s %s -> %d in %.3fs (%d bytes)",
            call.method,
            call.shown_path,
            status,
            elapsed,
            len(body),
        )
        if 200 <= status < 300:
            data = _decode(body)
            if data is _INVALID_JSON:
                self.stats.count_transport_error()
                truncated = MergeTransportError(
                    method=call.method,
                    path=call.shown_path,
                    status=status,
                    detail=f"response body is not complete JSON ({len(body)} bytes)",
                    attempts=call.attempts,
                    linked_account_id=call.linked_account_id,
                )
                raise TransientFailure(truncated) if call.idempotent else truncated
            return _Reply(data, len(body), server_date, elapsed)

        retry_after = parse_retry_after(
            response.headers.get("Retry-After"), now=server_date or datetime.now(UTC)
        )
        error = error_for_response(
            status=status,
            detail=error_detail(body, secrets),
            method=call.method,
            path=call.shown_path,
            linked_account_id=call.linked_account_id,
            attempts=call.attempts,
            retry_after=retry_after,
            rules=self._auth_rules,
        )
        if status == 429:
            self.stats.count_rate_limited()
            if retry_after is not None and call.limiter is not None:
                # Bounded: a Retry-After of days must not stall the account's other syncs for
                # days (this call gives up anyway when the wait exceeds the retry budget).
                call.limiter.pause_for(min(retry_after, self._retry_policy.max_total_wait_s))
        elif status >= 500:
            self.stats.count_server_error()
        # 429 means Merge did not act on the request, so even a POST may repeat it.
        if status in RETRYABLE_STATUSES and (call.idempotent or status == 429):
            raise TransientFailure(error, retry_after=retry_after)
        raise error
