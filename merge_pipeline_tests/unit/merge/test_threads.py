from concurrent.futures import ThreadPoolExecutor

import httpx
from pydantic import SecretStr

from merge_pipeline.merge import AccountCredentials
from merge_pipeline_tests.unit.merge.conftest import json_response, page_body

PAGES = {None: ("1", "c2"), "c2": ("2", "c3"), "c3": ("3", None)}


def _by_cursor(request: httpx.Request) -> httpx.Response:
    """Stateless: the answer depends only on the request, so threads cannot disturb each other."""
    record, next_cursor = PAGES[request.url.params.get("cursor")]
    token = request.headers["X-Account-Token"]
    return json_response(page_body([{"id": f"{token}:{record}"}], next_cursor))


def test_one_client_serves_several_accounts_from_a_thread_pool(harness, employee):
    accounts = [AccountCredentials(f"la-{n}", SecretStr(f"t{n}")) for n in range(8)]
    with harness.client(_by_cursor) as client:

        def sync(account: AccountCredentials) -> list[str]:
            pages = client.iter_pages(account, employee, modified_after=None)
            return [record["id"] for page in pages for record in page.results]

        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(sync, accounts))
    token = [a.account_token.get_secret_value() for a in accounts]
    assert results == [[f"{t}:1", f"{t}:2", f"{t}:3"] for t in token]
    assert harness.stats.api_calls == 24
