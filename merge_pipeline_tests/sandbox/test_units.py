"""Pure pieces of the sandbox, without HTTP: ids, cursors, layout, keyset scans, signing."""

import base64
import uuid
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import merge_sandbox
from merge_pipeline.catalog import Field, load_catalog
from merge_sandbox.clock import VirtualClock
from merge_sandbox.cursor import Cursor, decode
from merge_sandbox.errors import ApiError, ErrorTexts
from merge_sandbox.filters import unmapped_params
from merge_sandbox.ids import IdSpace, decode_index, split
from merge_sandbox.layout import model_layout, spread_counts
from merge_sandbox.schema import check_implicit_refs, load_schema
from merge_sandbox.state import Sandbox, shared_generators
from merge_sandbox.table import Scope
from merge_sandbox.timefmt import parse_iso, to_iso
from merge_sandbox.values import Env, field_gen, in_time_order
from merge_sandbox.webhooks import sign, verify


@given(st.integers(min_value=0, max_value=(1 << 40)))
def test_ids_are_uuid5_shaped_and_decode_to_their_index(index):
    space = IdSpace.for_model(3, "account", "hris.Employee")
    text = space.encode(index)
    parsed = uuid.UUID(text)
    assert str(parsed) == text and parsed.version == 5 and parsed.variant == uuid.RFC_4122
    parts = split(text)
    assert parts is not None
    assert parts[0] == space.prefix and decode_index(space, parts[1]) == index


def test_id_spaces_of_different_models_do_not_collide():
    spaces = [IdSpace.for_model(1, "a", m) for m in ("hris.Employee", "hris.Group", "ats.Job")]
    ids = {s.encode(i) for s in spaces for i in range(500)}
    assert len(ids) == 1500
    parts = split(spaces[0].encode(7))
    assert parts is not None and parts[0] != spaces[1].prefix


@given(st.integers(min_value=0, max_value=4_000_000_000_000_000))
def test_timestamps_round_trip(us):
    assert parse_iso(to_iso(us)) == us
    assert to_iso(us).endswith("Z")


def test_cursor_round_trips():
    cursor = Cursor(1_700_000_000_123_456, "abc", reverse=True)
    assert decode(cursor.encode()) == cursor


def test_drf_cursor_without_key_is_a_position_with_its_offset():
    """Merge's documented example is DRF's ``p=...``; DRF also writes ``o`` and ``r``."""
    drf = base64.b64encode(b"o=2&r=1&p=2021-01-06+03%3A24%3A53.434326%2B00%3A00").decode()
    expected = Cursor(parse_iso("2021-01-06T03:24:53.434326Z"), "", reverse=True, offset=2)
    assert decode(drf) == expected


def test_positionless_cursor_is_the_first_page():
    assert decode(base64.b64encode(b"o=0").decode()) is None


@pytest.mark.parametrize(
    "text", ["not a cursor", base64.b64encode(b"p=yesterday").decode(), "%%%", "bz0tMQ=="]
)
def test_undecodable_cursor_is_404(text):
    with pytest.raises(ApiError) as raised:
        decode(text)
    assert raised.value.status == 404


#: instants Merge could stamp (a naive datetime near year 1 has no POSIX timestamp in every zone)
INSTANTS = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)


@given(st.lists(INSTANTS, min_size=2, max_size=2))
def test_nested_objects_are_never_modified_before_created(moments):
    stamps = [to_iso(int(m.timestamp() * 1_000_000)) for m in moments]
    value = in_time_order({"created_at": stamps[0], "modified_at": stamps[1]})
    assert value["created_at"] <= value["modified_at"]


def test_spread_gives_every_model_a_record_and_sums_to_total():
    specs = load_schema().models_of("accounting")
    for total in (5, 30, 31, 1000, 1_000_000):
        counts = spread_counts(specs, total)
        assert min(counts.values()) >= 1
        assert sum(counts.values()) == max(total, len(specs))


def test_layout_arithmetic_matches_brute_force():
    layout = model_layout(1, "a", "hris.Employee", 1000, 1_800_000_000_000_000)
    stamps = [layout.modified_us(i) for i in range(1000)]
    assert stamps == sorted(set(stamps))
    for moment in (stamps[0] - 1, stamps[0], stamps[10], stamps[10] + 1, stamps[-1]):
        assert layout.first_modified_after(moment) == sum(1 for s in stamps if s <= moment)


def test_implicit_references_name_real_fields_and_models():
    assert check_implicit_refs(load_catalog()) == []


def test_the_sandbox_keeps_no_model_data_of_its_own() -> None:
    """Models, nested types and constraints come from the catalog only (one source of models)."""
    package = Path(merge_sandbox.__file__).parent
    assert sorted(p.name for p in package.glob("*.json")) == []
    schema = load_schema()
    line_item = load_catalog().category("accounting").objects["InvoiceLineItem"]
    assert schema.object_type("accounting", "InvoiceLineItem") is line_item


class _NoAccount:
    epoch_us = 1_800_000_000_000_000

    def pick_id(self, model: str, h: int) -> str | None:
        return None


def test_generated_values_keep_the_catalogs_bounds_and_lengths() -> None:
    pools, _ = shared_generators(1)
    env = Env("hris", pools, objects=lambda name: None, model_named=lambda name: None)
    short = field_gen("Employee", Field("nickname", "string", nullable=False, max_length=3), env)
    month = Field("month", "integer", nullable=False, minimum=1, maximum=12)
    month_gen = field_gen("CompanyInfo", month, env)
    ctx = _NoAccount()
    for h in range(0, 1 << 40, 1 << 30):
        assert 0 < len(short(h, ctx)) <= 3
        assert 1 <= month_gen(h, ctx) <= 12


def test_only_known_filter_parameters_are_unmapped():
    unmapped = {
        spec.model_id: unmapped_params(spec) for spec in load_schema() if unmapped_params(spec)
    }
    assert unmapped == {
        "hris.Employee": ["employment_type", "job_title"],
        "ats.ScheduledInterview": ["job_id"],
        "accounting.GeneralLedgerTransaction": ["posted_date_after", "posted_date_before"],
        "ticketing.User": ["collections"],
        "chat.Message": ["root_message"],
    }


def test_signature_is_base64url_hmac_and_verifies_with_or_without_padding():
    body = b'{"hook":{}}'
    padded = sign(body, "key")
    assert padded.endswith("=") and "+" not in padded and "/" not in padded
    assert verify(body, "key", padded) and verify(
        body, "key", sign(body, "key", strip_padding=True)
    )
    assert not verify(body + b" ", "key", padded)


def test_error_texts_reject_unknown_names():
    assert ErrorTexts().updated({"not_found": "Gone."}).not_found == "Gone."
    with pytest.raises(ValueError):
        ErrorTexts().updated({"no_such_text": "x"})


def test_virtual_clock_freezes_advances_and_skews():
    clock = VirtualClock()
    clock.freeze(at_us=1_000_000)
    clock.advance(2.5)
    assert clock.now_us() == 3_500_000
    clock.skew(-60)
    assert not clock.is_frozen
    assert abs(clock.now_us() - (VirtualClock().now_us() - 60_000_000)) < 5_000_000


@settings(max_examples=25, deadline=None)
@given(
    operations=st.lists(
        st.tuples(st.sampled_from(["create", "update", "delete"]), st.integers(0, 200)), max_size=40
    ),
    page=st.integers(1, 17),
    include_deleted=st.booleans(),
)
def test_keyset_pages_equal_a_sorted_scan_of_everything(operations, page, include_deleted):
    sandbox = Sandbox()
    account = sandbox.create_account("ats", 300)
    table = account.tables["ats.Candidate"]
    now = sandbox.clock.now_us()
    for op, n in operations:
        now += 1000
        if op == "create":
            table.create(now)
        elif op == "update":
            table.update(n % table.size, now)
        else:
            table.delete(n % table.size, now)
    everything = [table.get(i) for i in range(table.size)]
    expected = sorted(
        (r.modified_us, r.key) for r in everything if r and (include_deleted or not r.deleted)
    )
    scope = Scope(include_deleted=include_deleted)
    got, position = [], None
    while True:
        rows = list(islice(table.scan(scope, position), page))
        got += [(r.modified_us, r.key) for r in rows]
        if len(rows) < page:
            break
        position = got[-1]
    assert got == expected
    backwards = [(r.modified_us, r.key) for r in table.scan(scope, None, reverse=True)]
    assert backwards == expected[::-1]
