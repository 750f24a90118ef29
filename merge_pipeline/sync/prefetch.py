"""Fetch the next page while the current one is being stored.

A sync alternates waiting on Merge (network) and on PostgreSQL; a small bounded queue filled by
one thread overlaps the two. Memory stays flat: at most ``depth`` pages wait in the queue. The
producer thread only ever touches the HTTP iterator it was given, never the database.
"""

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")
_DONE = object()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class Prefetch(Generic[T]):
    """Iterate ``source`` in a background thread, ``depth`` items ahead of the consumer.

    Errors raised by ``source`` are re-raised in the consumer, at the point it would have met
    them. :meth:`close` (or leaving the ``with`` block) stops the producer early.
    """

    def __init__(self, source: Iterable[T], depth: int = 2) -> None:
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._produce, args=(iter(source),), name="merge-prefetch", daemon=True
        )
        self._thread.start()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self, source: Iterator[T]) -> None:
        try:
            for item in source:
                if not self._put(item):
                    return
        except BaseException as error:  # handed to the consumer, raised there
            self._put(_Failure(error))
            return
        self._put(_DONE)

    def __iter__(self) -> Iterator[T]:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item  # type: ignore[misc]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def __enter__(self) -> "Prefetch[T]":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
