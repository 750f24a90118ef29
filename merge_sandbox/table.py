"""One model of one linked account: lazily generated base records plus an overlay of changes.

Base record ``i`` exists unless the overlay holds index ``i``. The overlay (records created,
changed or deleted since start-up) is a dict by index plus a ``SortedList`` of
``(modified_us, key, index)``, so both sources can be walked in ``(modified_at, key)`` order and
merged: keyset pagination without ever materialising the table.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sortedcontainers import SortedList

from merge_sandbox.layout import ModelLayout, index_of_remote_id, remote_id_for
from merge_sandbox.records import AccountRecords
from merge_sandbox.schema import ModelSpec
from merge_sandbox.timefmt import to_iso

_AFTER_ANY_INDEX = 1 << 62

Position = tuple[int, str]  # (modified_us, key): keyset position, exclusive


@dataclass(slots=True)
class Row:
    """A record as stored or generated, with the metadata ordering and filters need."""

    index: int
    key: str
    modified_us: int
    created_us: int
    deleted: bool
    parent_index: int | None
    record: dict[str, Any]
    version: int = 0
    purged: bool = False  # hard-deleted: in no listing, no retrieve, no ground truth


@dataclass(frozen=True, slots=True)
class Scope:
    """The cheap, index-friendly part of a list query; the rest is ``predicate``."""

    modified_after: int | None = None
    modified_before: int | None = None
    created_after: int | None = None
    created_before: int | None = None
    include_deleted: bool = False
    parent_index: int | None = None
    stride: tuple[int, int] | None = None  # (residue, modulus) of the index: alternative parents
    remote_id: str | None = None
    predicate: Callable[[dict[str, Any]], bool] | None = None


@dataclass
class ModelTable:
    """Base + overlay for one ``(account, model)``."""

    spec: ModelSpec
    layout: ModelLayout
    records: AccountRecords
    parent_count: int = 0  # base records of the parent model (nested list paths)
    overlay: dict[int, Row] = field(default_factory=dict)
    order: Any = field(default_factory=SortedList)
    next_index: int = 0
    last_modified_us: int = 0

    def __post_init__(self) -> None:
        self.next_index = self.layout.count
        self.last_modified_us = self.layout.last_modified_us
        self._by_remote_id = self.spec.model.key == "remote_id"

    # -- single records -------------------------------------------------------------------

    def key_of(self, index: int) -> str:
        return remote_id_for(index) if self._by_remote_id else self.layout.ids.encode(index)

    def base_row(self, index: int) -> Row:
        record = self.records.base(self.spec.model_id, index)
        return Row(
            index=index,
            key=self.key_of(index),
            modified_us=self.layout.modified_us(index),
            created_us=self.layout.created_us(index),
            deleted=False,
            parent_index=self.base_parent(index),
            record=record,
        )

    def base_parent(self, index: int) -> int | None:
        if self.spec.parent is None or self.parent_count == 0:
            return None
        return index % self.parent_count

    def get(self, index: int) -> Row | None:
        row = self.overlay.get(index)
        if row is not None:
            return row
        if 0 <= index < self.layout.count:
            return self.base_row(index)
        return None

    def exists(self, index: int) -> bool:
        return index in self.overlay or 0 <= index < self.layout.count

    @property
    def size(self) -> int:
        """Records ever known (deleted ones included)."""
        return self.next_index

    # -- changes --------------------------------------------------------------------------

    def tick(self, now_us: int) -> int:
        """The next ``modified_at``: now, but never at or before an earlier change."""
        moment = max(now_us, self.last_modified_us + 1)
        self.last_modified_us = moment
        return moment

    def _store(self, row: Row, previous: Row | None) -> Row:
        if previous is not None and previous.index in self.overlay:
            self.order.remove((previous.modified_us, previous.key, previous.index))
        self.overlay[row.index] = row
        self.order.add((row.modified_us, row.key, row.index))
        return row

    def create(self, now_us: int, parent_index: int | None = None) -> Row:
        index = self.next_index
        self.next_index += 1
        moment = self.tick(now_us)
        record = self.records.build(self.spec.model_id, index, moment, moment, parent_index)
        row = Row(index, self.key_of(index), moment, moment, False, parent_index, record)
        return self._store(row, None)

    def update(self, index: int, now_us: int) -> Row | None:
        current = self.get(index)
        if current is None or current.purged:
            return None
        moment = self.tick(now_us)
        version = current.version + 1
        record = self.records.changed(self.spec.model_id, current.record, index, version, moment)
        row = Row(
            index,
            current.key,
            moment,
            current.created_us,
            current.deleted,
            current.parent_index,
            record,
            version,
        )
        return self._store(row, current)

    def delete(
        self, index: int, now_us: int, *, bump: bool = True, purge: bool = False
    ) -> Row | None:
        """Mark a record deleted (``bump``: stamp ``modified_at``; ``purge``: hard delete)."""
        current = self.get(index)
        if current is None or current.deleted:
            return None
        moment = self.tick(now_us) if bump else current.modified_us
        record = dict(current.record)
        if "remote_was_deleted" in record:
            record["remote_was_deleted"] = True
        if "modified_at" in record and bump:
            record["modified_at"] = to_iso(moment)
        row = Row(
            index,
            current.key,
            moment,
            current.created_us,
            True,
            current.parent_index,
            record,
            current.version,
            purge,
        )
        return self._store(row, current)

    # -- keyset scans ---------------------------------------------------------------------

    def scan(
        self, scope: Scope, position: Position | None = None, reverse: bool = False
    ) -> Iterator[Row]:
        """Rows matching ``scope`` strictly after (or, reversed, before) ``position``."""
        base = self._base_rows(scope, position, reverse)
        extra = self._overlay_rows(scope, position, reverse)
        for row in _merge(base, extra, reverse):
            if scope.predicate is None or scope.predicate(row.record):
                yield row

    def _base_range(
        self, scope: Scope, position: Position | None, reverse: bool
    ) -> tuple[int, int]:
        layout = self.layout
        lo, hi = 0, layout.count
        if scope.modified_after is not None:
            lo = max(lo, layout.first_modified_after(scope.modified_after))
        if scope.created_after is not None:
            lo = max(lo, layout.first_created_after(scope.created_after))
        if scope.modified_before is not None:
            hi = min(hi, layout.first_modified_after(scope.modified_before - 1))
        if scope.created_before is not None:
            hi = min(hi, layout.first_created_after(scope.created_before - 1))
        if position is not None:
            moment, key = position
            if not reverse:
                start = layout.first_modified_after(moment - 1)
                if start < layout.count and layout.modified_us(start) == moment:
                    start += self.key_of(start) <= key
                lo = max(lo, start)
            else:
                end = layout.first_modified_after(moment) - 1
                if end >= 0 and layout.modified_us(end) == moment and self.key_of(end) >= key:
                    end -= 1
                hi = min(hi, end + 1)
        if scope.remote_id is not None:
            only = index_of_remote_id(scope.remote_id)
            if only is None or not lo <= only < hi:
                return 0, 0
            lo, hi = only, only + 1
        return lo, hi

    def _base_indexes(
        self, scope: Scope, position: Position | None, reverse: bool
    ) -> Iterator[int]:
        lo, hi = self._base_range(scope, position, reverse)
        if lo >= hi:
            return iter(())
        if scope.stride is not None:
            residue, stride = scope.stride
        elif scope.parent_index is not None and self.spec.parent is not None:
            residue, stride = scope.parent_index, self.parent_count
        else:
            return iter(range(hi - 1, lo - 1, -1) if reverse else range(lo, hi))
        if not 0 <= residue < stride:  # a parent created since start-up has no base children
            return iter(())
        first = lo + (residue - lo) % stride
        if first >= hi:
            return iter(())
        last = first + (hi - 1 - first) // stride * stride
        return iter(range(last, first - 1, -stride) if reverse else range(first, hi, stride))

    def _base_rows(self, scope: Scope, position: Position | None, reverse: bool) -> Iterator[Row]:
        overlay = self.overlay
        for index in self._base_indexes(scope, position, reverse):
            if index not in overlay:
                yield self.base_row(index)

    def _overlay_rows(
        self, scope: Scope, position: Position | None, reverse: bool
    ) -> Iterator[Row]:
        minimum: tuple[Any, ...] | None = None
        maximum: tuple[Any, ...] | None = None
        if scope.modified_after is not None:
            minimum = (scope.modified_after + 1,)
        if scope.modified_before is not None:
            maximum = (scope.modified_before,)
        if position is not None:
            if not reverse:
                bound = (position[0], position[1], _AFTER_ANY_INDEX)
                minimum = bound if minimum is None else max(minimum, bound)
            else:
                bound = (position[0], position[1], -1)
                maximum = bound if maximum is None else min(maximum, bound)
        for _, _, index in self.order.irange(minimum, maximum, (False, False), reverse=reverse):
            row = self.overlay[index]
            if _in_scope(row, scope):
                yield row


def _in_scope(row: Row, scope: Scope) -> bool:
    if row.purged or (row.deleted and not scope.include_deleted):
        return False
    if scope.created_after is not None and row.created_us <= scope.created_after:
        return False
    if scope.created_before is not None and row.created_us >= scope.created_before:
        return False
    if scope.parent_index is not None and row.parent_index != scope.parent_index:
        return False
    if scope.stride is not None and row.index % scope.stride[1] != scope.stride[0]:
        return False
    return scope.remote_id is None or row.record.get("remote_id") == scope.remote_id


def _merge(first: Iterator[Row], second: Iterator[Row], reverse: bool) -> Iterator[Row]:
    """Merge two streams that are each ordered by ``(modified_us, key)``."""
    a = next(first, None)
    b = next(second, None)
    while a is not None and b is not None:
        a_first = (a.modified_us, a.key) < (b.modified_us, b.key)
        if a_first != reverse:
            yield a
            a = next(first, None)
        else:
            yield b
            b = next(second, None)
    while a is not None:
        yield a
        a = next(first, None)
    while b is not None:
        yield b
        b = next(second, None)
