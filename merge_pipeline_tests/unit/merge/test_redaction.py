"""Redaction finds a secret whatever escaping an error message gave it, whole or in part."""

import json
from urllib.parse import quote

import pytest

from merge_pipeline.merge.hygiene import MASK, header_value_problem, redact

SECRET = "sk-SENTINEL-redact-9f2c7a\n"
CORE = SECRET.strip()


@pytest.mark.parametrize(
    "message",
    [
        f"raw {SECRET} end",
        f"Illegal header value {('Bearer ' + SECRET).encode()!r}",
        f"value {SECRET!r} refused",
        f"body {json.dumps({'detail': SECRET})}",
        f"url /x?key={quote(SECRET, safe='')}",
        f"truncated ...{CORE[4:18]}",
        f"suffix cut {CORE[-12:]}",
    ],
)
def test_secret_is_masked_in_any_escaping(message: str) -> None:
    redacted = redact(message, [SECRET])
    assert MASK in redacted
    for fragment in (CORE, CORE[4:18], CORE[-12:], quote(CORE)):
        assert fragment not in redacted


def test_text_without_the_secret_is_left_alone() -> None:
    assert redact("GET /hris/v1/employees -> 503", [SECRET]) == "GET /hris/v1/employees -> 503"


@pytest.mark.parametrize("value", ["key\n", " key", "ke\x00y", "kéy"])
def test_values_a_header_cannot_carry_are_named_without_quoting(value: str) -> None:
    problem = header_value_problem(value)
    assert problem is not None
    assert "key" not in problem


def test_a_plain_token_is_a_legal_header_value() -> None:
    assert header_value_problem("tok_ABC-123.xyz") is None
