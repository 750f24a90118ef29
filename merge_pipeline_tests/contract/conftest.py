"""One small sandbox per session (an account per category) and the validator that checks it.

Everything here needs the Merge reference beside the checkout (``../shared/merge``): without it
the contract tests skip, because the OpenAPI documents are the contract.
"""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from merge_pipeline.catalog import load_catalog
from merge_pipeline.catalog.model import CommonModel
from merge_pipeline_tests.contract.spec import SHARED_MERGE, reference_available
from merge_pipeline_tests.contract.validator import ContractValidator

#: Ten accounts, one per category in the sandbox's category order; 2,000 records leave at least
#: one record of every model (accounting, with 30 models, is the tightest).
ACCOUNTS = 10
RECORDS = 2_000
SEED = 5
#: How many parents to try before concluding a nested model has no records at all.
MAX_PARENTS = 25


def require_reference() -> None:
    if not reference_available():
        pytest.skip(f"the Merge reference is not beside the checkout ({SHARED_MERGE})")


@pytest.fixture(scope="session")
def reference() -> None:
    """Skip (rather than fail) where ``../shared/merge`` is absent."""
    require_reference()


@dataclass
class Contract:
    """The running sandbox, one authenticated client per category, and the validator."""

    base_url: str
    api_key: str
    admin: Any  # merge_sandbox.admin.SandboxAdmin
    accounts: dict[str, Any]  # category -> merge_sandbox.admin.AccountInfo
    validator: ContractValidator
    _clients: dict[tuple[str, str | None], httpx.Client] = field(default_factory=dict)
    _parents: dict[str, dict[str, str]] = field(default_factory=dict)
    _pages: dict[str, Any] = field(default_factory=dict)

    def client(
        self, category: str | None = None, *, api_key: str | None = None, token: str | None = None
    ) -> httpx.Client:
        """An httpx client authenticated as the pipeline would be (for ``category``'s account)."""
        key = api_key or self.api_key
        if token is None and category is not None:
            token = self.accounts[category].account_token
        if (key, token) not in self._clients:  # one client each: creating one costs ~50 ms
            headers = {"Authorization": f"Bearer {key}"}
            if token is not None:
                headers["X-Account-Token"] = token
            self._clients[key, token] = httpx.Client(
                base_url=self.base_url, headers=headers, timeout=30
            )
        return self._clients[key, token]

    def parent_ids(self, model: CommonModel) -> dict[str, str]:
        """Path parameters of a nested model filled with a parent that has children."""
        if not model.path_params:
            return {}
        if model.model_id not in self._parents:
            self._parents[model.model_id] = self._find_parent(model)
        return self._parents[model.model_id]

    def _find_parent(self, model: CommonModel) -> dict[str, str]:
        (param,) = model.path_params  # every nested Merge path has exactly one parent
        category = load_catalog().category(model.category)
        parent = category.model(param.model or "")
        api = self.client(model.category)
        parents = api.get(parent.list_path, params={"page_size": 100}).json()["results"]
        for record in parents[:MAX_PARENTS]:
            path = model.list_path.format(**{param.name: record["id"]})
            if api.get(path, params={"page_size": 1}).json().get("results"):
                return {param.name: record["id"]}
        raise AssertionError(f"no {parent.name} of the sandbox has {model.name} records")

    def list_path(self, model: CommonModel) -> str:
        return model.list_path.format(**self.parent_ids(model))

    def retrieve_path(self, model: CommonModel, record_id: str) -> str:
        assert model.retrieve_path is not None
        return model.retrieve_path.format(**self.parent_ids(model), id=record_id)

    def first_page(self, model: CommonModel) -> httpx.Response:
        """The first page (``page_size=5``) of ``model``, unexpanded (cached per session)."""
        if model.model_id not in self._pages:
            api = self.client(model.category)
            self._pages[model.model_id] = api.get(self.list_path(model), params={"page_size": 5})
        response: httpx.Response = self._pages[model.model_id]
        return response

    def a_record(self, model: CommonModel) -> dict[str, Any]:
        results = self.first_page(model).json()["results"]
        assert results, f"the sandbox serves no {model.model_id} records"
        record: dict[str, Any] = results[0]
        return record

    def close(self) -> None:
        for client in self._clients.values():
            client.close()


@pytest.fixture(scope="session")
def contract(reference: None) -> Iterator[Contract]:
    """A sandbox with one account per category, served over real HTTP for this session."""
    try:
        from merge_sandbox.testing import running_sandbox
    except ImportError as error:  # the emulator is built alongside; say so rather than error
        pytest.skip(f"merge_sandbox.testing is not importable: {error}")
    with running_sandbox(accounts=ACCOUNTS, records=RECORDS, seed=SEED) as sandbox:
        accounts: dict[str, Any] = {}
        for account in sandbox.accounts:
            accounts.setdefault(account.category, account)
        harness = Contract(
            base_url=sandbox.base_url,
            api_key=sandbox.api_key,
            admin=sandbox.admin,
            accounts=accounts,
            validator=ContractValidator(sandbox.base_url),
        )
        try:
            yield harness
        finally:
            harness.close()
            _VALIDATED.append((harness.validator.seen, harness.validator.checked))


_VALIDATED: list[tuple[int, int]] = []
#: ``full_sync.Tally`` per category, filled by ``test_full_sync_contract``.
FULL_SYNC_TALLIES: list[Any] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say how many sandbox responses the contract tests validated (and how many conformed)."""
    for seen, passed in _VALIDATED:
        terminalreporter.write_line(
            f"contract: {seen} sandbox responses validated, {passed} conform to the contract"
        )
    for tally in FULL_SYNC_TALLIES:
        terminalreporter.write_line(
            f"contract full sync {tally.category}: {tally.responses} responses, "
            f"{tally.violations} violations"
        )


def unknown_id() -> str:
    return str(uuid.uuid4())
