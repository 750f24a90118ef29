"""The one line a failed sync leaves: our own messages, never a foreign message's row data."""

from merge_pipeline.merge.errors import MergeServerError
from merge_pipeline.sync.failure import describe_failure


def test_merge_errors_keep_their_message_with_secrets_masked() -> None:
    error = MergeServerError(
        method="GET", path="/hris/v1/employees", status=503, detail="k-123456789abc"
    )
    assert describe_failure(error, ["k-123456789abc"]) == (
        "Merge server error: GET /hris/v1/employees -> 503: ***"
    )


def test_unexpected_errors_are_named_by_type_and_place_never_by_message() -> None:
    try:
        {"row": "ROW-DATA"}["missing ROW-DATA"]
    except KeyError as error:
        described = describe_failure(error)
    assert described.startswith("unexpected KeyError at ")
    assert "ROW-DATA" not in described
