"""Neither the API key nor an account token (nor a public token) may leak into logs, exception
messages, exception chains, tracebacks or reprs, on any path: success, retry or failure."""

import logging
import traceback
from collections.abc import Callable, Iterator

import httpx
import pytest
from pydantic import SecretStr

from merge_pipeline.catalog import load_catalog
from merge_pipeline.merge import MergeError
from merge_pipeline_tests.unit.merge.conftest import (
    ACCOUNT_TOKEN,
    API_KEY,
    Script,
    json_response,
    make_settings,
    page_body,
)

PUBLIC_TOKEN = "pub-SENTINEL-789"
EXCHANGED_TOKEN = "tok-EXCHANGED-000"
SENTINELS = (API_KEY, ACCOUNT_TOKEN, PUBLIC_TOKEN, EXCHANGED_TOKEN)
EMPLOYEE = load_catalog().model("hris.Employee")


def _ok() -> httpx.Response:
    return json_response(page_body([{"id": "1"}]))


def _echo(status: int) -> Callable[[httpx.Request], httpx.Response]:
    """A server (or proxy) that echoes our request headers back in its error body."""

    def reply(request: httpx.Request) -> httpx.Response:
        return json_response({"detail": f"rejected {dict(request.headers)}"}, status)

    return reply


def _raise(kind: type[httpx.TransportError]) -> Callable[[httpx.Request], httpx.Response]:
    """A transport failure holding the request, with the headers in its message for good measure."""

    def reply(request: httpx.Request) -> httpx.Response:
        raise kind(f"failed sending {dict(request.headers)}", request=request)

    return reply


class _BodyCutOff(httpx.SyncByteStream):
    def __iter__(self) -> Iterator[bytes]:
        yield b'{"results": ['
        raise httpx.RemoteProtocolError("peer closed connection")


# Each scenario builds fresh responses (a streamed body can be read only once).
SCENARIOS: dict[str, Callable[[], list]] = {
    "success": lambda: [_ok()],
    "429 then success": lambda: [
        json_response({"detail": "slow"}, 429, {"Retry-After": "1"}),
        _ok(),
    ],
    "503 then success": lambda: [json_response({"detail": "down"}, 503), _ok()],
    "dropped mid-body then success": lambda: [httpx.Response(200, stream=_BodyCutOff()), _ok()],
    "truncated json then success": lambda: [httpx.Response(200, content=b'{"resu'), _ok()],
    "connect error then success": lambda: [_raise(httpx.ConnectError), _ok()],
    "429 exhausted": lambda: [json_response({"detail": "slow"}, 429)],
    "500 exhausted, secrets echoed": lambda: [_echo(500)],
    "read timeout exhausted": lambda: [_raise(httpx.ReadTimeout)],
    "read error exhausted": lambda: [_raise(httpx.ReadError)],
    "unsupported protocol": lambda: [_raise(httpx.UnsupportedProtocol)],
    "400 echoed": lambda: [_echo(400)],
    "401 bad key": lambda: [json_response({"detail": "Invalid API key."}, 401)],
    "401 bad token": lambda: [json_response({"detail": "Invalid account token."}, 401)],
    "401 echoed": lambda: [_echo(401)],
    "403 echoed": lambda: [_echo(403)],
    "404": lambda: [json_response({"detail": "Not found."}, 404)],
    "contract error": lambda: [json_response({"unexpected": True})],
    "non-json error body": lambda: [httpx.Response(502, content=f"bad gateway {API_KEY}".encode())],
}


def _calls(client, account) -> list[Callable[[], object]]:
    return [
        lambda: list(client.iter_pages(account, EMPLOYEE, modified_after=None)),
        lambda: client.retrieve(account, EMPLOYEE, "e1"),
        lambda: client.sync_status(account, "hris"),
        lambda: client.account_details(account, "hris"),
        lambda: list(client.issues("hris", status="ONGOING")),
        lambda: list(client.linked_accounts("hris")),
        lambda: client.create_link_token("hris", "o1", "Org", "a@b.c", ["hris"]),
        lambda: client.exchange_public_token("hris", PUBLIC_TOKEN),
    ]


def _chain(error: BaseException) -> list[BaseException]:
    chain = [error]
    while (nxt := chain[-1].__cause__ or chain[-1].__context__) is not None:
        chain.append(nxt)
    return chain


def _assert_clean(text: str, where: str) -> None:
    for sentinel in SENTINELS:
        assert sentinel not in text, f"{sentinel} leaked into {where}"


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_no_secret_reaches_logs_errors_or_tracebacks(harness, account, scenario, caplog):
    caplog.set_level(logging.DEBUG)
    failures: list[BaseException] = []
    for index in range(len(_calls(None, account))):
        with harness.client(Script(SCENARIOS[scenario]())) as client:
            try:
                _calls(client, account)[index]()
            except MergeError as error:
                failures.append(error)
            _assert_clean(repr(client), "repr(client)")
    for failure in failures:
        assert _chain(failure) == [failure], "errors must be raised without a cause/context"
        rendered = "".join(traceback.format_exception(failure))
        _assert_clean(rendered, f"traceback of {type(failure).__name__}")
        _assert_clean(repr(vars(failure)), "error attributes")
    _assert_clean(caplog.text, "logs")
    _assert_clean(repr([r.__dict__ for r in caplog.records]), "log records")


def test_scenarios_exercise_logging_and_failures(harness, account, caplog):
    """Guard the test above against passing vacuously (nothing logged, nothing raised)."""
    caplog.set_level(logging.DEBUG)
    script = Script(SCENARIOS["500 exhausted, secrets echoed"]())
    with harness.client(script) as client, pytest.raises(MergeError) as caught:
        client.account_details(account, "hris")
    assert "rejected" in str(caught.value) and "***" in str(caught.value)
    assert any(r.name == "httpx" for r in caplog.records)
    assert any(r.levelno == logging.WARNING for r in caplog.records)
    assert any(
        r.levelno == logging.DEBUG and r.name.startswith("merge_pipeline") for r in caplog.records
    )


def test_exchange_returns_the_account_token_as_a_secret(harness, caplog):
    caplog.set_level(logging.DEBUG)
    body = {"account_token": EXCHANGED_TOKEN, "id": "la-9", "integration": {"name": "BambooHR"}}
    script = Script([json_response(body)])
    with harness.client(script) as client:
        result = client.exchange_public_token("hris", PUBLIC_TOKEN)
    assert isinstance(result["account_token"], SecretStr)
    assert result["account_token"].get_secret_value() == EXCHANGED_TOKEN
    assert result["id"] == "la-9"
    assert script.requests[0].url.path == f"/api/hris/v1/account-token/{PUBLIC_TOKEN}"
    assert "/hris/v1/account-token/***" in caplog.text
    _assert_clean(caplog.text + repr(result), "exchange logs and result repr")


def test_reprs_hide_secrets(harness, account):
    settings = make_settings()
    _assert_clean(repr(account) + repr(settings) + str(account), "reprs")
    with harness.client(Script([_ok()])) as client:
        (page,) = client.iter_pages(account, EMPLOYEE, modified_after=None)
        _assert_clean(repr(client) + repr(page) + repr(client.stats), "reprs")


def test_credentials_refuse_a_plain_string_token():
    from merge_pipeline.merge import AccountCredentials

    with pytest.raises(TypeError):
        AccountCredentials("la-1", ACCOUNT_TOKEN)  # type: ignore[arg-type]
