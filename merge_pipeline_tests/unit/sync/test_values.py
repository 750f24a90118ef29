"""Typed values: what fits its column, in what form, and what sends a record to quarantine."""

from datetime import UTC, datetime

import pytest

from merge_pipeline.sync.values import Kind, ValueProblem, stored_value

INSTANT = datetime(2026, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-01T00:00:00.500000Z",
        "2026-01-01T02:00:00.5+02:00",
        "2025-12-31T18:30:00.500-05:30",
        "2026-01-01T00:00:00.500000",  # no offset: UTC, as Merge documents its times
    ],
)
def test_every_iso_form_of_an_instant_is_stored_as_that_instant(text: str) -> None:
    assert stored_value("modified_at", Kind.TIMESTAMP, text) == INSTANT


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (Kind.TIMESTAMP, "yesterday"),
        (Kind.TIMESTAMP, 1735689600),
        (Kind.INTEGER, "12"),
        (Kind.INTEGER, 1.5),
        (Kind.INTEGER, 2**64),
        (Kind.INTEGER, True),
        (Kind.NUMBER, "1.5"),
        (Kind.BOOLEAN, "true"),
    ],
)
def test_a_value_that_does_not_fit_its_column_is_a_problem(kind: Kind, value: object) -> None:
    with pytest.raises(ValueProblem, match="'f'"):
        stored_value("f", kind, value)


def test_integral_float_fits_an_integer_column() -> None:
    assert stored_value("n", Kind.INTEGER, 3.0) == 3


def test_text_column_keeps_a_non_text_value_as_json_text() -> None:
    assert stored_value("gender", Kind.TEXT, {"raw": 3}) == '{"raw":3}'
