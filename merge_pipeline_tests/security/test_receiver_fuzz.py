"""The webhook receiver fuzzed over a socket: ``merge-pipeline receiver`` in its own process.

Hypothesis (derandomized, a bounded number of examples) sends malformed JSON, arbitrary bytes,
envelopes whose fields have the wrong types, unknown events, strings with NULs, bad, missing and
replayed signatures, bodies over the limit (declared or streamed), deeply nested bodies, and
slow clients. Each answer is a clean 2xx or 4xx with a one-line reason: never a 5xx, never a
dead receiver; every row the inbox holds afterwards is a well-formed event stored once.
"""

import json
import socket
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from merge_pipeline.demo import WEBHOOK_PATH, receiver_process
from merge_pipeline.processes import ManagedProcess
from merge_pipeline.warehouse.pipeline_tables import webhook_inbox
from merge_pipeline.warehouse.vault import generate_key
from merge_pipeline.webhooks.signature import SIGNATURE_HEADER, compute_signature
from merge_pipeline_tests.security.conftest import OwnDatabase, free_port

pytestmark = pytest.mark.integration

SIGNING_KEY = "whsec-FUZZ-5d1c0e7a9b"
MAX_BODY = 16_384
FUZZ = settings(
    derandomize=True,
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
#: every answer the fuzzers got, by status: the report's figures
OUTCOMES: Counter[str] = Counter()


class Receiver:
    def __init__(self, process: ManagedProcess, port: int, engine: sa.Engine) -> None:
        self.process, self.port, self.engine = process, port, engine
        self.url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
        self.http = httpx.Client(timeout=30)

    def post(self, body: bytes, signature: str | None = "sign", **headers: str) -> httpx.Response:
        if signature == "sign":
            signature = compute_signature(body, SecretStr(SIGNING_KEY))
        if signature is not None:
            headers[SIGNATURE_HEADER] = signature
        answer = self.http.post(self.url, content=body, headers=headers)
        OUTCOMES[f"{answer.status_code}"] += 1
        return answer

    def inbox_count(self) -> int:
        with self.engine.connect() as connection:
            return int(
                connection.execute(
                    sa.select(sa.func.count()).select_from(webhook_inbox)
                ).scalar_one()
            )


@pytest.fixture(scope="module")
def receiver(
    own_database: OwnDatabase, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Receiver]:
    port = free_port(48010)
    env = {
        "MERGE_PIPELINE_API_KEY": "sk-fuzz-not-used",
        "MERGE_PIPELINE_BASE_URL": "http://127.0.0.1:9/api",  # Merge is not called by webhooks
        "MERGE_PIPELINE_DATABASE_URL": own_database.url.render_as_string(hide_password=False),
        "MERGE_PIPELINE_TOKEN_ENCRYPTION_KEY": generate_key(),
        "MERGE_PIPELINE_WEBHOOK_SIGNING_KEY": SIGNING_KEY,
        "MERGE_PIPELINE_WEBHOOK_MAX_BODY_BYTES": str(MAX_BODY),
    }
    log: Path = tmp_path_factory.mktemp("fuzz") / "receiver.log"
    process = receiver_process(port, env, log)
    process.start()
    try:
        process.wait_ready()
        yield Receiver(process, port, own_database.engine)
    finally:
        process.stop()
        print(f"receiver fuzz outcomes by status: {dict(sorted(OUTCOMES.items()))}")
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


def _clean(answer: httpx.Response, allowed: tuple[int, ...]) -> None:
    """A specific answer: an allowed status with a JSON body, one line of detail when refused."""
    assert answer.status_code in allowed, (answer.status_code, answer.text)
    body = answer.json()
    if answer.status_code >= 400:
        assert isinstance(body["detail"], str) and "\n" not in body["detail"]


# -- strategies --------------------------------------------------------------------------------

_json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
_json = st.recursive(
    _json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_events = st.sampled_from(
    ["LinkedAccount.linked", "LinkedAccount.sync_completed", "Employee.synced", "Issue.new",
     "LinkedAccount.deleted", "no.such.event", "", "\x00", "Employee.synced\x00"]
) | st.text(max_size=20)  # fmt: skip
_ids = st.none() | st.text(max_size=40) | st.integers() | st.lists(st.text(max_size=3), max_size=2)


@st.composite
def envelopes(draw: st.DrawFn) -> dict[str, Any]:
    """Merge's envelope with any part missing, of the wrong type, or with odd text in it."""
    envelope: dict[str, Any] = {}
    if draw(st.booleans()):
        envelope["hook"] = draw(
            st.fixed_dictionaries({"event": _events}, optional={"id": _ids, "target": _json})
            | _json
        )
    if draw(st.booleans()):
        envelope["linked_account"] = draw(
            st.fixed_dictionaries(
                {"id": _ids},
                optional={"category": st.sampled_from(["hris", "ats", "nope", ""]) | _json,
                          "integration": _json, "status": _json,
                          "end_user_origin_id": _ids},
            )
            | _json
        )  # fmt: skip
    if draw(st.booleans()):
        envelope["data"] = draw(
            st.fixed_dictionaries({}, optional={"account_token": _ids | _json, "extra": _json})
            | _json
        )
    return envelope


# -- the fuzzers -------------------------------------------------------------------------------


@FUZZ
@given(body=st.binary(max_size=600))
def test_arbitrary_signed_bytes_are_refused_cleanly(receiver: Receiver, body: bytes) -> None:
    _clean(receiver.post(body), (200, 422))


@FUZZ
@given(envelope=envelopes())
def test_envelopes_of_any_shape_are_stored_or_refused_cleanly(
    receiver: Receiver, envelope: dict[str, Any]
) -> None:
    body = json.dumps(envelope).encode()
    before = receiver.inbox_count()
    answer = receiver.post(body)
    _clean(answer, (200, 422))
    stored = receiver.inbox_count() - before
    assert stored == (1 if answer.status_code == 200 and answer.json()["stored"] else 0)


@FUZZ
@given(body=st.binary(min_size=1, max_size=200), signature=st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60))  # fmt: skip
def test_bad_signatures_are_401_and_store_nothing(
    receiver: Receiver, body: bytes, signature: str
) -> None:
    before = receiver.inbox_count()
    real = compute_signature(body, SecretStr(SIGNING_KEY))
    if signature.strip().rstrip("=") == real:
        return
    _clean(receiver.post(body, signature=signature), (401,))
    assert receiver.inbox_count() == before


def test_missing_signature_wrong_key_and_latin1_header_are_401(receiver: Receiver) -> None:
    body = json.dumps({"hook": {"event": "Employee.synced"}}).encode()
    before = receiver.inbox_count()
    _clean(receiver.post(body, signature=None), (401,))
    _clean(receiver.post(body, signature=compute_signature(body, SecretStr("other"))), (401,))
    latin1_header = {SIGNATURE_HEADER.encode(): "é".encode("latin-1") * 43}
    latin1 = receiver.http.post(receiver.url, content=body, headers=latin1_header)
    _clean(latin1, (401,))
    assert receiver.inbox_count() == before


def test_a_replayed_body_is_stored_once(receiver: Receiver) -> None:
    body = json.dumps({"hook": {"event": "Employee.synced", "id": "replay-1"},
                       "linked_account": {"id": "acct-replayed"}}).encode()  # fmt: skip
    before = receiver.inbox_count()
    answers = [receiver.post(body).json() for _ in range(5)]
    assert answers == [{"stored": True}] + [{"stored": False, "duplicate": True}] * 4
    assert receiver.inbox_count() == before + 1


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 10_000,  # deeper than any JSON parser follows
        b'{"a":' * 2000 + b"1" + b"}" * 2000,
        b"",
    ],
    ids=["unbalanced-10k", "objects-2k-deep", "empty"],
)
def test_deeply_nested_and_empty_bodies_are_refused_cleanly(
    receiver: Receiver, body: bytes
) -> None:
    _clean(receiver.post(body), (413, 422))


@pytest.mark.parametrize(
    "envelope",
    [
        {"hook": {"event": "Employee.synced\x00"}},
        {"hook": {"event": "\x00"}},
        {"hook": {"event": "Employee.synced"}, "linked_account": {"id": "acct\x00nul"}},
        {"hook": {"event": "Employee.synced"}, "data": {"name\x00": "a\x00b"}},
        {"hook": {"event": "LinkedAccount.linked"}, "linked_account": {"id": "acct-nul",
         "category": "hris", "integration": "Bamboo\x00HR"}, "data": {"account_token": "t"}},
        {"hook": {"event": "LinkedAccount.linked"}, "linked_account": {"id": "acct-nul-token",
         "category": "hris"}, "data": {"account_token": "tok\x00en"}},
        {"hook": {"event": "LinkedAccount.linked"}, "linked_account": {"id": "acct-nl-token",
         "category": "hris"}, "data": {"account_token": "token\n"}},
    ],
    ids=["event-nul", "event-only-nul", "account-id-nul", "data-nul", "integration-nul",
         "token-nul", "token-newline"],
)  # fmt: skip
def test_nul_characters_anywhere_are_stored_cleaned_or_refused_never_a_5xx(
    receiver: Receiver, envelope: dict[str, Any]
) -> None:
    """PostgreSQL's text and jsonb cannot hold U+0000; JSON can (as \\u0000)."""
    before = receiver.inbox_count()
    answer = receiver.post(json.dumps(envelope).encode())
    _clean(answer, (200, 422))
    assert receiver.inbox_count() == before + (answer.status_code == 200)


def test_a_nested_but_parsable_envelope_is_stored_or_refused_cleanly(receiver: Receiver) -> None:
    deep: Any = "leaf"
    for _ in range(500):
        deep = {"d": deep}
    body = json.dumps({"hook": {"event": "Employee.synced", "id": "deep"}, "data": deep}).encode()
    _clean(receiver.post(body), (200, 422))


def test_bodies_over_the_limit_are_413_declared_or_streamed(receiver: Receiver) -> None:
    big = b'{"hook": {"event": "Employee.synced"}, "pad": "' + b"x" * MAX_BODY + b'"}'
    before = receiver.inbox_count()
    _clean(receiver.post(big), (413,))

    def chunks() -> Iterator[bytes]:  # no Content-Length: the receiver counts as it reads
        for start in range(0, len(big), 4096):
            yield big[start : start + 4096]

    signature = compute_signature(big, SecretStr(SIGNING_KEY))
    answer = receiver.http.post(
        receiver.url, content=chunks(), headers={SIGNATURE_HEADER: signature}
    )
    _clean(answer, (413,))
    assert receiver.inbox_count() == before


def _raw_request(port: int, body: bytes, *, declared: int | None = None, pause_s: float = 0.0,
                 hang_up_after: int | None = None) -> bytes:  # fmt: skip
    """A hand-written HTTP/1.1 request, its body sent a few bytes at a time."""
    signature = compute_signature(body, SecretStr(SIGNING_KEY))
    head = (
        f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"{SIGNATURE_HEADER}: {signature}\r\nContent-Length: {declared or len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(head)
        sent = body if hang_up_after is None else body[:hang_up_after]
        for start in range(0, len(sent), 16):
            connection.sendall(sent[start : start + 16])
            time.sleep(pause_s)
        if hang_up_after is not None:
            return b""
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
        return answer


def test_slow_clients_and_clients_that_hang_up_leave_the_receiver_serving(
    receiver: Receiver,
) -> None:
    body = json.dumps({"hook": {"event": "Employee.synced", "id": "slow"},
                       "linked_account": {"id": "acct-slow"}}).encode()  # fmt: skip
    before = receiver.inbox_count()
    # a client that hangs up halfway through its body, and one that promises more than it sends
    _raw_request(receiver.port, body, hang_up_after=len(body) // 2)
    _raw_request(receiver.port, body, declared=len(body) + 100, hang_up_after=len(body))
    assert receiver.inbox_count() == before
    # a slow but complete client is served
    answer = _raw_request(receiver.port, body, pause_s=0.02)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert receiver.inbox_count() == before + 1
    assert receiver.http.get(f"http://127.0.0.1:{receiver.port}/health").status_code == 200


def test_after_the_fuzzing_the_receiver_lives_and_the_inbox_holds_only_good_events(
    receiver: Receiver,
) -> None:
    assert receiver.process.running
    with receiver.engine.connect() as connection:
        rows = connection.execute(sa.select(webhook_inbox)).all()
    assert rows, "the fuzzers stored nothing: they tested nothing"
    for row in rows:
        payload = row.payload
        assert isinstance(payload, dict) and isinstance(payload["hook"], dict)
        assert payload["hook"]["event"] == row.event and row.event
        assert row.linked_account_id is None or isinstance(row.linked_account_id, str)
        data = payload.get("data")
        assert not isinstance(data, dict) or "account_token" not in data
    assert len({row.body_sha256 for row in rows}) == len(rows)
