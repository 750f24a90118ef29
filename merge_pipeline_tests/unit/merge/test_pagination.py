from datetime import UTC, datetime

import pytest

from merge_pipeline.catalog import load_catalog
from merge_pipeline.merge import MergeResponseError
from merge_pipeline.merge.client import MAX_LISTING_RESTARTS
from merge_pipeline_tests.unit.merge.conftest import Script, json_response, page_body


def _three_pages() -> Script:
    return Script(
        [
            json_response(page_body([{"id": "1"}, {"id": "2"}], "c2")),
            json_response(page_body([{"id": "3"}], "c3")),
            json_response(page_body([{"id": "4"}], None)),
        ]
    )


def test_follows_next_cursors_with_every_other_param_identical(harness, account, employee):
    script = _three_pages()
    with harness.client(script) as client:
        pages = list(
            client.iter_pages(
                account,
                employee,
                modified_after=datetime(2026, 1, 1, tzinfo=UTC),
                expand=("manager",),
            )
        )
    assert [p.number for p in pages] == [1, 2, 3]
    assert [r["id"] for p in pages for r in p.results] == ["1", "2", "3", "4"]
    assert [p.get("cursor") for p in script.params] == [None, "c2", "c3"]
    without_cursor = [{k: v for k, v in p.items() if k != "cursor"} for p in script.params]
    assert without_cursor == [without_cursor[0]] * 3
    assert without_cursor[0] == {
        "page_size": "100",
        "modified_after": "2026-01-01T00:00:00.000000Z",
        "expand": "manager",
        "include_deleted_data": "true",
    }
    assert [(p.cursor, p.next_cursor) for p in pages] == [(None, "c2"), ("c2", "c3"), ("c3", None)]


def test_pages_stream_one_request_per_page_consumed(harness, account, employee):
    script = _three_pages()
    with harness.client(script) as client:
        pages = client.iter_pages(account, employee, modified_after=None)
        assert script.requests == []
        next(pages)
        assert len(script.requests) == 1


def test_requested_page_size_is_capped_at_100(harness, account, employee):
    script = Script([json_response(page_body([]))])
    with harness.client(script) as client:
        list(client.iter_pages(account, employee, modified_after=None, page_size=1000))
        list(client.iter_pages(account, employee, modified_after=None, page_size=7))
    assert [p["page_size"] for p in script.params] == ["100", "7"]


def test_invalid_arguments_fail_at_the_call_not_at_first_iteration(harness, account, employee):
    script = Script([json_response(page_body([]))])
    with harness.client(script) as client, pytest.raises(ValueError, match="cannot expand"):
        client.iter_pages(account, employee, modified_after=None, expand=("nope",))
    assert script.requests == []


def test_page_carries_server_date_size_and_path(harness, account, employee):
    response = json_response(page_body([{"id": "1"}]))
    script = Script([response])
    with harness.client(script) as client:
        (page,) = client.iter_pages(account, employee, modified_after=None)
    assert page.server_date == datetime(2026, 3, 3, 10, 20, 30, tzinfo=UTC)
    assert page.bytes == len(response.content)
    assert page.is_last
    assert script.requests[0].url.path == "/api/hris/v1/employees"


def test_nested_model_fills_its_path_parameter(harness, account):
    questions = load_catalog().model("ats.ScreeningQuestion")
    script = Script([json_response(page_body([]))])
    with harness.client(script) as client:
        list(
            client.iter_pages(account, questions, modified_after=None, path_params={"job_id": "j1"})
        )
    assert script.requests[0].url.path == "/api/ats/v1/jobs/j1/screening-questions"


def test_resumes_from_a_given_cursor(harness, account, employee):
    script = Script([json_response(page_body([{"id": "9"}]))])
    with harness.client(script) as client:
        (page,) = client.iter_pages(account, employee, modified_after=None, cursor="c7")
    assert script.params[0]["cursor"] == "c7"
    assert page.cursor == "c7"


def test_a_repeated_cursor_stops_instead_of_looping(harness, account, employee):
    script = Script([json_response(page_body([], "same"))])
    with harness.client(script) as client, pytest.raises(MergeResponseError, match="cycle"):
        list(client.iter_pages(account, employee, modified_after=None))
    # each pass reads two pages before the cycle shows; the listing is re-read twice, then refused
    assert len(script.requests) == 2 * (MAX_LISTING_RESTARTS + 1)


def test_a_cycle_longer_than_one_page_is_refused(harness, account, employee):
    pages = [page_body([{"id": "1"}], "A"), page_body([{"id": "2"}], "B")]
    script = Script([json_response(pages[0]), *[json_response(pages[i % 2]) for i in range(1, 9)]])
    with harness.client(script) as client, pytest.raises(MergeResponseError, match="cycle"):
        list(client.iter_pages(account, employee, modified_after=None))
    assert client.stats.cursor_cycles == MAX_LISTING_RESTARTS


def test_a_cycle_that_happens_once_is_read_again_from_the_start(harness, account, employee):
    script = Script(
        [
            json_response(page_body([{"id": "1"}], "A")),
            json_response(page_body([{"id": "2"}], "B")),
            json_response(page_body([{"id": "3"}], "A")),  # B -> A: back to a page already read
            json_response(page_body([{"id": "1"}], "A")),
            json_response(page_body([{"id": "2"}], "B")),
            json_response(page_body([{"id": "3"}])),
        ]
    )
    with harness.client(script) as client:
        ids = [r["id"] for page in client.iter_pages(account, employee, modified_after=None)
               for r in page.results]  # fmt: skip
    assert ids[-3:] == ["1", "2", "3"]
    assert client.stats.cursor_cycles == 1


def test_a_body_without_results_is_a_contract_error(harness, account, employee):
    script = Script([json_response({"data": []})])
    with harness.client(script) as client, pytest.raises(MergeResponseError, match="results"):
        list(client.iter_pages(account, employee, modified_after=None))
    assert len(script.requests) == 1
