"""What a database error was: by SQLSTATE, else by libpq's connection message (table)."""

import pytest

from merge_pipeline.warehouse.db_errors import explain_database_error


@pytest.mark.parametrize(
    ("sqlstate", "message", "expected"),
    [
        ("40P01", "deadlock detected", "a deadlock with another transaction"),
        ("55P03", "canceling statement due to lock timeout", "a lock wait timed out"),
        ("57014", "canceling statement due to statement timeout", "statement_timeout"),
        ("53100", "could not extend file: No space left on device", "disk is full"),
        ("53300", "sorry, too many clients already", "too many connections"),
        ("28P01", "password authentication failed for user", "refused the password"),
        ("3D000", 'database "x" does not exist', "does not exist"),
        ("57P01", "terminating connection due to administrator command", "ended the connection"),
        ("08006", "connection failure", "the connection to the database failed"),
        ("22P02", 'invalid input syntax for type bigint: "secret row value"', "SQLSTATE 22P02"),
        (
            None,
            'connection to server at "127.0.0.1", port 1 failed: Connection refused\n\t'
            "Is the server running on that host and accepting TCP/IP connections?",
            "the warehouse database is unreachable (connection refused)",
        ),
        (
            None,
            'connection to server on socket "/d/pg/.s.PGSQL.5432" failed: No such file or '
            "directory\n\tIs the server running locally and accepting connections on that socket?",
            "the warehouse database is unreachable (no server on its socket: is it running?)",
        ),
        (None, 'could not translate host name "db.invalid" to address', "does not resolve"),
        (
            None,
            'connection to server at "h", port 5432 failed: FATAL:  password authentication '
            'failed for user "u"',
            "refused the password",
        ),
        (None, "FATAL:  sorry, too many clients already", "no free connection slot"),
        (
            None,
            "server closed the connection unexpectedly\n\tThis probably means the server "
            "terminated abnormally",
            "closed the connection (it stopped or restarted during the work)",
        ),
        (None, "something new", "the warehouse database connection failed (something new)"),
    ],
)
def test_explain_database_error(sqlstate: str | None, message: str, expected: str) -> None:
    line = explain_database_error(sqlstate, message, "SomeError")
    assert expected in line
    assert "\n" not in line
    if sqlstate is not None:  # a server's message may quote row values: never shown
        assert message not in line
