"""Checks one real HTTP exchange with the sandbox against the contract.

Categories with an OpenAPI document go through openapi-core (request and response: method, path
template, query, headers, status, body); calendar and email through JSON Schemas built from the
catalog. Errors (whose bodies no document describes) are checked against the project's
``{"detail": <string>}`` shape and the documented status codes. Every check raises
``ContractViolation`` with a readable list of what is wrong.
"""

import json
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import parse_qsl

import httpx
from jsonschema import Draft202012Validator, FormatChecker
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.exceptions import OpenAPIError
from openapi_core.templating.paths.exceptions import PathNotFound
from werkzeug.datastructures import Headers, ImmutableMultiDict

from merge_pipeline.catalog import load_catalog
from merge_pipeline.catalog.model import Category, CommonModel, ObjectType
from merge_pipeline_tests.contract.catalog_schema import (
    ERROR_BODY,
    CatalogSchemas,
    paginated,
)
from merge_pipeline_tests.contract.spec import (
    DOCUMENTS,
    normalised_document,
    point_servers_at,
)

Json = Any

#: Status codes Merge documents (CONTRACT §7); 3xx and 403 are never returned.
DOCUMENTED_STATUSES = frozenset({200, 201, 202, 204, 400, 401, 404, 429, 500, 502, 503, 504})
#: Most characters of a value quoted in a violation message.
_QUOTE = 160


class ContractViolation(AssertionError):
    """A response (or the request that produced it) breaks the contract."""


# -- openapi-core protocol objects from httpx ----------------------------------------------


class HttpxOpenAPIRequest:
    """An ``httpx.Request`` as openapi-core's ``Request`` protocol."""

    def __init__(self, request: httpx.Request) -> None:
        url = request.url
        self.host_url = f"{url.scheme}://{url.netloc.decode('ascii')}"
        self.path = url.path
        self.method = request.method.lower()
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qsl(url.query.decode(), keep_blank_values=True)),
            header=Headers(list(request.headers.multi_items())),
            cookie=ImmutableMultiDict(),
        )
        self.body: bytes | None = request.content or None
        self.content_type = request.headers.get("content-type", "")


class HttpxOpenAPIResponse:
    """An ``httpx.Response`` as openapi-core's ``Response`` protocol."""

    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.headers = Headers(list(response.headers.multi_items()))
        self.content_type = response.headers.get("content-type", "")
        self.data: bytes | None = response.content


# -- readable failures ---------------------------------------------------------------------


def _quote(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= _QUOTE else text[: _QUOTE - 3] + "..."


def _leaves(error: Any) -> Iterator[Any]:
    context = getattr(error, "context", None)
    if not context:
        yield error
        return
    for sub in context:
        yield from _leaves(sub)


def _schema_messages(error: Any) -> Iterator[str]:
    """One line per jsonschema error; for anyOf/oneOf, why each branch failed (its leaves)."""
    where = "/".join(str(p) for p in getattr(error, "absolute_path", ())) or "<body>"
    message = getattr(error, "message", str(error))
    if len(message) > 2 * _QUOTE:
        message = f"{_quote(error.instance)} is invalid ({error.validator})"
    yield f"{where}: {message}"
    if getattr(error, "context", None):
        seen = set()
        for leaf in _leaves(error):
            line = "  | " + next(_schema_messages(leaf))
            if line not in seen:
                seen.add(line)
                yield line


def describe(error: BaseException) -> list[str]:
    """An openapi-core or jsonschema error as lines naming field, value and rule."""
    lines: list[str] = []
    cause: BaseException | None = error
    while cause is not None:
        for schema_error in getattr(cause, "schema_errors", ()) or ():
            lines.extend(_schema_messages(schema_error))
        cause = cause.__cause__
    head = type(error).__name__ if lines else f"{type(error).__name__}: {error}"[: 4 * _QUOTE]
    return [head, *_without_repeats(lines)]


def _without_repeats(lines: list[str]) -> list[str]:
    """OAS 3.0 type checks say "None for not nullable" and then "None is not of type": keep one."""
    not_nullable = {line.split(": None for not nullable")[0] for line in lines}
    kept = []
    for line in lines:
        where, _, message = line.partition(": ")
        if message.startswith("None is not of type") and where in not_nullable:
            continue
        kept.append(line.replace(": None for not nullable", ": null where the document forbids it"))
    return list(dict.fromkeys(kept))


def _fail(response: httpx.Response, problems: list[str]) -> None:
    request = response.request
    head = f"{request.method} {request.url} -> {response.status_code}"
    raise ContractViolation("\n".join([head, *problems]))


# -- where a request belongs ---------------------------------------------------------------


def _template_regex(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")


@dataclass(frozen=True)
class Endpoint:
    """What a request path names: a category, and a model list/retrieve or a platform path."""

    category: str
    model: CommonModel | None
    kind: str  # list | retrieve | platform


def _merge_path(path: str) -> str:
    """``/api/hris/v1/employees`` -> ``/hris/v1/employees`` (paths are relative to ``/api``)."""
    _, _, rest = path.partition("/api/")
    return "/" + rest


def resolve(path: str) -> Endpoint:
    merge_path = _merge_path(path)
    category = merge_path.split("/")[1]
    catalog = load_catalog()
    if category not in catalog.categories:
        raise ContractViolation(f"{path}: no such category {category!r}")
    for model in catalog.category(category):
        if _template_regex(model.list_path).match(merge_path):
            return Endpoint(category, model, "list")
        if model.retrieve_path and _template_regex(model.retrieve_path).match(merge_path):
            return Endpoint(category, model, "retrieve")
    return Endpoint(category, None, "platform")


def expand_values(request: httpx.Request) -> frozenset[str]:
    raw = request.url.params.get("expand", "")
    return frozenset(v for v in raw.split(",") if v)


# -- the validator -------------------------------------------------------------------------


@cache
def openapi_app(relative: str, category: str, base_url: str) -> OpenAPI:
    """The compiled document for one sandbox (cached: compile once per session).

    The normalised documents are checked by openapi-spec-validator once, in
    ``test_spec_normalisation``; checking them again on every construction costs seconds.
    """
    document = point_servers_at(normalised_document(relative, category), base_url)
    config = Config(spec_validator_cls=None, additional_properties_default_policy="allow")
    return OpenAPI.from_dict(document, config=config)


#: Platform responses of the undocumented categories: (method, path after /<category>/v1)
#: -> (catalog platform type, paginated).
_PLATFORM = {
    ("GET", "/sync-status"): ("SyncStatus", True),
    ("GET", "/account-details"): ("AccountDetails", False),
    ("GET", "/linked-accounts"): ("AccountDetailsAndActions", True),
    ("GET", "/issues"): ("Issue", True),
    ("GET", "/issues/{id}"): ("Issue", False),
    ("POST", "/link-token"): ("LinkToken", False),
    ("GET", "/account-token/{public_token}"): ("AccountToken", False),
}


@dataclass
class ContractValidator:
    """Validates sandbox exchanges; ``seen`` counts responses checked, ``checked`` those passed."""

    base_url: str
    seen: int = 0
    checked: int = 0

    def check(self, response: httpx.Response, *, check_request: bool = True) -> Json:
        """Validate a successful exchange; returns the parsed body."""
        self.seen += 1
        problems = self._status_problems(response, expect_success=True)
        if problems:
            _fail(response, problems)
        endpoint = resolve(response.request.url.path)
        if endpoint.category in DOCUMENTS:
            problems = self._openapi_problems(endpoint.category, response, check_request)
        else:
            problems = self._catalog_problems(endpoint, response)
        body = response.json() if response.content else None
        if not problems and endpoint.model is not None:
            problems = expansion_problems(endpoint, body, expand_values(response.request))
        if problems:
            _fail(response, problems)
        self.checked += 1
        return body

    def check_error(self, response: httpx.Response, status: int) -> str:
        """Validate an error exchange: the expected status and a ``{"detail": str}`` body."""
        self.seen += 1
        problems = self._status_problems(response, expect_success=False)
        if response.status_code != status:
            problems.append(f"expected status {status}, got {response.status_code}")
        problems += _json_problems(response, ERROR_BODY)
        if status == 429:
            retry_after = response.headers.get("retry-after", "")
            if not retry_after.isdigit() or int(retry_after) < 1:
                problems.append(f"429 needs Retry-After in whole seconds, got {retry_after!r}")
        if problems:
            _fail(response, problems)
        self.checked += 1
        return str(response.json()["detail"])

    @staticmethod
    def _status_problems(response: httpx.Response, *, expect_success: bool) -> list[str]:
        problems = []
        if response.status_code not in DOCUMENTED_STATUSES:
            problems.append(f"status {response.status_code} is not a documented Merge status")
        if expect_success and not 200 <= response.status_code < 300:
            problems.append(f"expected success, got {response.status_code}: {response.text!r}")
        content_type = response.headers.get("content-type", "")
        if response.content and not content_type.startswith("application/json"):
            problems.append(f"content-type {content_type!r} is not application/json")
        return problems

    def _openapi_problems(
        self, category: str, response: httpx.Response, check_request: bool
    ) -> list[str]:
        request = HttpxOpenAPIRequest(response.request)
        answer = HttpxOpenAPIResponse(response)
        for relative in DOCUMENTS[category]:
            app = openapi_app(relative, category, self.base_url)
            try:
                if check_request:
                    app.validate_request(request)
                app.validate_response(request, answer)
            except PathNotFound:
                continue
            except OpenAPIError as error:
                return [f"against openapi/{relative}:", *describe(error)]
            return []
        return [f"no OpenAPI document of {category} has the path {request.path}"]

    def _catalog_problems(self, endpoint: Endpoint, response: httpx.Response) -> list[str]:
        schema = catalog_response_schema(endpoint, response.request)
        if schema is None:
            return [f"the catalog of {endpoint.category} does not describe this endpoint"]
        problems = []
        if endpoint.model is not None:
            unknown = expand_values(response.request) - set(endpoint.model.expand)
            if unknown:
                problems.append(f"request: expand values {sorted(unknown)} are not allowed")
        return problems + _json_problems(response, schema)


def _json_problems(response: httpx.Response, schema: Mapping[str, Json]) -> list[str]:
    try:
        body = response.json()
    except ValueError as error:
        return [f"body is not JSON: {error}"]
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    problems: list[str] = []
    for found in sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path)):
        problems.extend(_schema_messages(found))
    return problems


def catalog_response_schema(endpoint: Endpoint, request: httpx.Request) -> Json | None:
    """The JSON Schema of a 200 body of an undocumented category, from the catalog."""
    catalog = load_catalog()
    category = catalog.category(endpoint.category)
    if endpoint.model is not None:
        schemas = CatalogSchemas(category.objects)
        record = schemas.record_schema(endpoint.model, expand_values(request))
        return paginated(record) if endpoint.kind == "list" else record
    relative = _merge_path(request.url.path)[len(f"/{category.name}/v1") :]
    for (method, template), (type_name, is_page) in _PLATFORM.items():
        if method == request.method and _template_regex(template).match(relative):
            # CategoryEnum/CategoriesEnum predate calendar and email (CONTRACT §1): as in the
            # documents' ``oneOf: [<Enum>, string]``, platform enums accept other strings.
            platform = CatalogSchemas(_platform_objects(category), strict_enums=False)
            item = platform.object_schema(type_name)
            return paginated(item) if is_page else item
    return None


def _platform_objects(category: Category) -> Mapping[str, ObjectType]:
    return {**category.objects, **load_catalog().platform_types}


def _relation_units(value: Any) -> Iterator[Any]:
    if isinstance(value, list):
        yield from value
    elif value is not None:
        yield value


def expansion_problems(endpoint: Endpoint, body: Json, expanded: Collection[str]) -> list[str]:
    """CONTRACT §2: an expanded relation carries the object, an unexpanded one the id(s).

    Checked for the fields named by the model's ``expand`` values that the catalog types as a
    reference (``Field.ref``): OpenAPI's ``oneOf: [uuid, Model]`` accepts either shape whatever
    was asked. calendar and email have no such field (their SDK types relations as strings).
    """
    model = endpoint.model
    if model is None or not isinstance(body, dict):
        return []
    records = body.get("results", []) if endpoint.kind == "list" else [body]
    problems = []
    for field in model.fields:
        if field.ref is None or field.name not in model.expand:
            continue
        want = dict if field.name in expanded else str
        for index, record in enumerate(records):
            if not isinstance(record, dict):
                continue
            for unit in _relation_units(record.get(field.name)):
                if not isinstance(unit, want):
                    state = "expanded" if want is dict else "not expanded"
                    problems.append(
                        f"record {index}: {field.name} is {state} but carries {_quote(unit)}"
                    )
    return problems
