"""A stand-in for Merge that answers over real sockets with exactly the bodies a test scripts.

The sandbox generates well-formed data; scenarios about malformed data (a wrongly typed value,
a record without an id, duplicates in one page, a persistent cursor cycle, error bodies that
quote our headers) need bodies written by hand, still sent through the real HTTP stack.
"""

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

#: (status, body) for a request; a body that is bytes is sent as is
Answer = tuple[int, Any]


@dataclass
class ScriptedMerge:
    """Lists by path (``/hris/v1/employees``): the page for each ``cursor`` (None: the first);
    records by path for retrieve-by-id; ``answer`` overrides both when set."""

    base_url: str = ""
    lists: dict[str, dict[str | None, dict[str, Any]]] = field(default_factory=dict)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    answer: Callable[[str, dict[str, str]], Answer] | None = None
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def page(self, path: str, results: list[Any], next_cursor: str | None = None,
             cursor: str | None = None) -> None:  # fmt: skip
        """Script the page of ``path`` that ``cursor`` fetches."""
        body = {"next": next_cursor, "previous": None, "results": results}
        self.lists.setdefault(path, {})[cursor] = body

    def reply(self, path: str, headers: dict[str, str]) -> Answer:
        self.requests.append((path, headers))
        if self.answer is not None:
            return self.answer(path, headers)
        parts = urlsplit(path)
        route = parts.path.removeprefix("/api")
        cursor = parse_qs(parts.query).get("cursor", [None])[0]
        if route in self.lists and cursor in self.lists[route]:
            return 200, self.lists[route][cursor]
        if route in self.records:
            return 200, self.records[route]
        return 404, {"detail": "Not found."}


class _Handler(BaseHTTPRequestHandler):
    script: ScriptedMerge

    def do_GET(self) -> None:
        status, body = self.script.reply(self.path, dict(self.headers.items()))
        payload = body if isinstance(body, bytes) else orjson.dumps(body)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Date", formatdate(usegmt=True))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        return


@contextmanager
def scripted_merge() -> Iterator[ScriptedMerge]:
    """A :class:`ScriptedMerge` serving on a free local port until the block ends."""
    script = ScriptedMerge()
    handler = type("Handler", (_Handler,), {"script": script})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    script.base_url = f"http://127.0.0.1:{server.server_address[1]}/api"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield script
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
