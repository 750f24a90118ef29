import pickle

import httpx
import pytest

from merge_pipeline.merge import (
    AuthRules,
    InvalidAccountToken,
    InvalidApiKey,
    MergeAuthError,
    MergeError,
    MergeNotFound,
    MergeUnexpectedStatus,
)
from merge_pipeline.merge.classify import error_detail
from merge_pipeline_tests.unit.merge.conftest import ACCOUNT_ID, Script, json_response


def _list(client, account, employee):
    return list(client.iter_pages(account, employee, modified_after=None))


def test_401_for_a_bad_key_is_invalid_api_key(harness, account, employee):
    script = Script([json_response({"detail": "Invalid API key."}, 401)])
    with harness.client(script) as client, pytest.raises(InvalidApiKey) as caught:
        _list(client, account, employee)
    assert len(script.requests) == 1
    assert "GET /hris/v1/employees -> 401: Invalid API key." in str(caught.value)


def test_401_for_a_bad_account_token_is_invalid_account_token(harness, account, employee):
    script = Script([json_response({"detail": "Invalid account token."}, 401)])
    with harness.client(script) as client, pytest.raises(InvalidAccountToken) as caught:
        _list(client, account, employee)
    assert caught.value.linked_account_id == ACCOUNT_ID
    assert f"linked account {ACCOUNT_ID}" in str(caught.value)
    assert "relink" in str(caught.value)


def test_unknown_401_text_blames_the_token_on_account_calls_and_the_key_otherwise(
    harness, account, employee
):
    script = Script([json_response({"detail": "Authentication failed."}, 401)])
    with harness.client(script) as client:
        with pytest.raises(InvalidAccountToken):
            _list(client, account, employee)
        with pytest.raises(InvalidApiKey):
            list(client.issues("hris"))


def test_auth_rules_are_configurable(harness, account, employee):
    rules = AuthRules(invalid_api_key=("key revoked",))
    script = Script([json_response({"detail": "This key revoked."}, 401)])
    with harness.client(script, auth_rules=rules) as client, pytest.raises(InvalidApiKey):
        _list(client, account, employee)


def test_403_and_unexpected_statuses_are_not_retried(harness, account, employee):
    for status, error in [(403, MergeAuthError), (409, MergeUnexpectedStatus)]:
        script = Script([json_response({"detail": "no"}, status)])
        with harness.client(script) as client, pytest.raises(error):
            _list(client, account, employee)
        assert len(script.requests) == 1


def test_redirects_are_not_followed(harness, account, employee):
    script = Script([httpx.Response(302, headers={"Location": "https://elsewhere.test/"})])
    with harness.client(script) as client, pytest.raises(MergeUnexpectedStatus):
        _list(client, account, employee)
    assert len(script.requests) == 1


def test_errors_survive_pickling_between_processes():
    error = MergeNotFound(
        method="GET", path="/hris/v1/employees/x", status=404, detail="Not found."
    )
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is MergeNotFound
    assert str(copy) == str(error)
    assert isinstance(copy, MergeError)


def test_error_detail_reads_drf_detail_or_falls_back_to_the_body():
    assert error_detail(b'{"detail": "Invalid API key."}', ()) == "Invalid API key."
    assert error_detail(b'{"errors": ["a"]}', ()) == '{"errors":["a"]}'
    assert error_detail(b"<html>Bad Gateway</html>", ()) == "<html>Bad Gateway</html>"
    assert error_detail(b"", ()) is None
    assert len(error_detail(b"x" * 5000, ()) or "") <= 503


def test_error_detail_redacts_secrets_echoed_back():
    assert error_detail(b'{"detail": "token tok-1 is bad"}', ("tok-1",)) == "token *** is bad"
