"""A bounded, deterministic schema fuzzer over every GET operation of Merge's documents.

schemathesis generates requests from a document (positive mode: every query value is one the
document allows) and checks the sandbox's answers: no 5xx, and every documented status carries a
body that matches its schema. The document is the one the contract suite validates against,
normalised by the same tested rules (``spec.normalise``), never loosened further. Requests are
authenticated as the pipeline's are, and path parameters are filled with ids of real records so
retrieve and nested endpoints answer with data rather than 404s.
"""

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import requests
import schemathesis
from schemathesis.checks import not_a_server_error, response_schema_conformance
from schemathesis.core.failures import Failure, FailureGroup

from merge_pipeline_tests.contract.spec import normalised_document, point_servers_at

#: Examples hypothesis tries per operation: ~420 operations x 2 keeps the whole run around a
#: minute on a loaded two-core machine (generation, not the sandbox, is the cost).
EXAMPLES_PER_OPERATION = 2
CHECKS = [not_a_server_error, response_schema_conformance]


@dataclass
class FuzzReport:
    """Requests made and failures found, for one document."""

    document: str
    operations: int = 0
    requests: int = 0
    failures: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Target:
    """Where and as whom to send requests."""

    base_url: str
    headers: Mapping[str, str]
    path_ids: Callable[[str], dict[str, str]]  # path template -> path parameters of real records


def _operations(schema: Any) -> list[Any]:
    return [result.ok() for result in schema.get_all_operations()]


def fuzz_document(
    relative: str, category: str, target: Target, skip: Collection[str] = ()
) -> FuzzReport:
    """Fuzz every GET operation of one normalised document against the running sandbox,
    except the path templates in ``skip`` (fuzzed through an earlier document already)."""
    document = point_servers_at(normalised_document(relative, category), target.base_url)
    schema = schemathesis.openapi.from_dict(document).include(method="GET")
    if skip:
        schema = schema.exclude(path=list(skip))
    report = FuzzReport(relative)
    session = requests.Session()
    try:
        for operation in _operations(schema):
            report.operations += 1
            _fuzz_operation(operation, target, session, report)
    finally:
        session.close()
    return report


def _fuzz_operation(
    operation: Any, target: Target, session: requests.Session, report: FuzzReport
) -> None:
    strategy = operation.as_strategy(path_parameters=target.path_ids(operation.path) or None)
    seen: set[str] = set()

    @hypothesis.settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(case=strategy)
    def run(case: Any) -> None:
        case.headers = {**(case.headers or {}), **target.headers}
        response = case.call(base_url=target.base_url, session=session)
        report.requests += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except (Failure, FailureGroup) as failure:
            for one in failure.exceptions if isinstance(failure, FailureGroup) else [failure]:
                message = f"{operation.method.upper()} {case.formatted_path}: {_describe(one)}"
                if message not in seen:
                    seen.add(message)
                    report.failures.append(message)

    run()


def _describe(failure: BaseException) -> str:
    """A failure's title and message, short enough to list many."""
    title = getattr(failure, "title", type(failure).__name__)
    return f"{title}: {str(getattr(failure, 'message', failure))[:600]}"
