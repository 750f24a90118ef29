"""Merge's webhook signature: what the sandbox (Merge's stand-in) signs verifies, nothing else."""

import pytest
from pydantic import SecretStr

from merge_pipeline.webhooks.signature import compute_signature, signature_matches
from merge_sandbox.webhooks import sign

KEY = "whsec-unit-key"
BODY = b'{"hook": {"event": "LinkedAccount.linked"}, "data": {}}'


@pytest.mark.parametrize("strip_padding", [False, True], ids=["padded", "unpadded"])
def test_signature_from_merge_verifies_with_or_without_padding(strip_padding: bool) -> None:
    header = sign(BODY, KEY, strip_padding=strip_padding)
    assert signature_matches(BODY, SecretStr(KEY), header)


def test_computed_signature_is_base64url_of_the_hmac_without_padding() -> None:
    assert compute_signature(BODY, SecretStr(KEY)) == sign(BODY, KEY, strip_padding=True)


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(sign(BODY, "another-key"), id="other key"),
        pytest.param(sign(BODY + b" ", KEY), id="body changed after signing"),
        pytest.param(sign(BODY, KEY).replace("-", "+").replace("_", "/") + "x", id="garbled"),
        pytest.param("", id="empty"),
        pytest.param(None, id="missing"),
        pytest.param("é" * 43, id="not ascii"),
    ],
)
def test_anything_but_the_right_signature_is_refused(header: str | None) -> None:
    assert not signature_matches(BODY, SecretStr(KEY), header)
