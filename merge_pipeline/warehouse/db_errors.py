"""What a database error was, in one line: by SQLSTATE, or by libpq's text when there is none.

An ``OperationalError`` is not always "unreachable": a deadlock, a lock or statement timeout, a
full disk, no free connection slot or a refused password each call for a different action, and
blaming the wrong component sends the operator the wrong way. psycopg2 gives a SQLSTATE
(``pgcode``) for errors the server reported; failures to connect at all carry none, only libpq's
message, which names the host and port but never the password. A server message is never quoted
(it can hold row values); libpq's connection messages are (their first line).
"""

#: SQLSTATE -> what happened (PostgreSQL Appendix A)
_BY_SQLSTATE: dict[str, str] = {
    "40P01": "a deadlock with another transaction (PostgreSQL aborted one of them)",
    "40001": "a serialization failure (a concurrent transaction changed the same rows)",
    "55P03": "a lock wait timed out (lock_timeout): another session holds the lock",
    "57014": "a statement was cancelled (statement_timeout, or cancelled by an operator)",
    "25P03": "the session sat idle in a transaction too long (idle_in_transaction_session_timeout)",
    "53100": "the database server's disk is full",
    "53200": "the database server is out of memory",
    "53300": "the database server has no free connection slot (too many connections)",
    "53400": "a configured database limit was exceeded",
    "28P01": "the database refused the password (check MERGE_PIPELINE_DATABASE_URL)",
    "28000": "the database refused the login (check MERGE_PIPELINE_DATABASE_URL and pg_hba.conf)",
    "3D000": "the database named in MERGE_PIPELINE_DATABASE_URL does not exist",
    "42501": "the database user lacks a privilege it needs",
    "57P01": "the database server ended the connection (a shutdown, or pg_terminate_backend)",
    "57P02": "the database server crashed during the work",
    "57P03": "the database server is starting up or shutting down (not accepting connections)",
    "57P05": "the session was closed by idle_session_timeout",
    "58030": "the database server had an I/O error",
}

#: SQLSTATE class (first two characters) -> what happened, when the code itself is not listed
_BY_CLASS: dict[str, str] = {
    "08": "the connection to the database failed",
    "40": "a transaction was rolled back by the server",
    "53": "the database server ran out of a resource",
    "57": "the database server stopped the work (operator intervention)",
    "58": "the database server had a system error",
    "XX": "the database server hit an internal error",
}

#: lower-case fragment of libpq's message -> what happened (connections without a SQLSTATE)
_BY_LIBPQ_TEXT: tuple[tuple[str, str], ...] = (
    ("connection refused", "the warehouse database is unreachable (connection refused)"),
    # a unix-socket URL (the embedded server's) whose server is not running
    (
        "no such file or directory",
        "the warehouse database is unreachable (no server on its socket: is it running?)",
    ),
    ("could not translate host name", "the warehouse database host name does not resolve"),
    ("name or service not known", "the warehouse database host name does not resolve"),
    ("timeout expired", "the warehouse database did not answer in time (connect timeout)"),
    ("password authentication failed", "the database refused the password"),
    ("no password supplied", "the database asks for a password and none was given"),
    ("no pg_hba.conf entry", "the database refused the login (no pg_hba.conf entry)"),
    (
        "does not exist",
        "the database (or role) named in MERGE_PIPELINE_DATABASE_URL does not exist",
    ),
    ("too many clients", "the database server has no free connection slot (too many connections)"),
    ("remaining connection slots", "the database server has no free connection slot"),
    ("the database system is starting up", "the database server is still starting up"),
    ("the database system is shutting down", "the database server is shutting down"),
    (
        "terminating connection due to administrator",
        "the database server ended the connection (a shutdown, or pg_terminate_backend)",
    ),
    (
        "server closed the connection unexpectedly",
        "the database server closed the connection (it stopped or restarted during the work)",
    ),
    ("connection already closed", "the database connection was already closed (server gone?)"),
    ("ssl syscall", "the TLS connection to the database failed"),
    ("ssl error", "the TLS connection to the database failed"),
)


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0].strip() if lines else ""


def explain_database_error(sqlstate: str | None, libpq_message: str, kind: str = "") -> str:
    """One line saying what the database error was; ``libpq_message`` is quoted only without a
    SQLSTATE (a failure to connect), where it holds no row data; ``kind`` is the driver's name
    for the error, shown for a SQLSTATE this module does not explain."""
    if sqlstate:
        known = _BY_SQLSTATE.get(sqlstate) or _BY_CLASS.get(sqlstate[:2])
        if known:
            return f"{known} [SQLSTATE {sqlstate}]"
        return f"database error SQLSTATE {sqlstate}" + (f" ({kind})" if kind else "")
    first = _first_line(libpq_message)
    lowered = libpq_message.lower()
    for fragment, what in _BY_LIBPQ_TEXT:
        if fragment in lowered:
            return f"{what}: {first}" if first else what
    reason = first or "no reason given"
    return f"the warehouse database connection failed ({reason})"


def describe_database_error(error: BaseException) -> str:
    """:func:`explain_database_error` of a SQLAlchemy ``DBAPIError`` (or a driver's own error)."""
    original = getattr(error, "orig", None) or error
    return explain_database_error(
        getattr(original, "pgcode", None), str(original), type(original).__name__
    )
