"""Where a listing's ``next`` cursors have led so far, to refuse loops Merge's cursors could make.

A listing is a chain of pages, each naming the next. A chain that comes back to a cursor it has
already used (A -> B -> A, of any length) would be followed for ever, holding the pair's lock and
spending the account's rate limit; so would a chain of empty pages or an endless one. Each
cursor is remembered as a 16-byte digest, so even a 100,000-page listing costs a few MB.
"""

import hashlib
from dataclasses import dataclass, field
from enum import Enum

#: consecutive empty pages that still name a next page before the listing is refused
MAX_EMPTY_PAGES = 100


class TrailProblem(Enum):
    """Why a listing must not follow its ``next`` cursor."""

    CYCLE = "'next' leads back to a page this listing already read (a cursor cycle)"
    TOO_MANY_PAGES = "the listing goes on for more pages than MERGE_PIPELINE_MAX_PAGES_PER_LISTING"
    EMPTY_PAGES = f"more than {MAX_EMPTY_PAGES} empty pages in a row still name a next page"


def _digest(cursor: str | None) -> bytes:
    return hashlib.blake2b((cursor or "").encode(), digest_size=16).digest()


@dataclass
class CursorTrail:
    """The cursors one pass of a listing has used; :meth:`step` judges each ``next``."""

    max_pages: int
    start: str | None = None
    pages: int = 0
    empty_in_a_row: int = 0
    _used: set[bytes] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        self._used.add(_digest(self.start))

    def step(self, next_cursor: str, *, page_was_empty: bool) -> TrailProblem | None:
        """Record a page that named ``next_cursor``; the reason not to follow it, if any."""
        self.pages += 1
        self.empty_in_a_row = self.empty_in_a_row + 1 if page_was_empty else 0
        digest = _digest(next_cursor)
        if digest in self._used:
            return TrailProblem.CYCLE
        if self.pages >= self.max_pages:
            return TrailProblem.TOO_MANY_PAGES
        if self.empty_in_a_row > MAX_EMPTY_PAGES:
            return TrailProblem.EMPTY_PAGES
        self._used.add(digest)
        return None
