"""A progress bar for long syncs in a terminal (tqdm), fed by the engine's page callback."""

import threading
from types import TracebackType
from typing import Self

from tqdm import tqdm

from merge_pipeline.merge.page import Page
from merge_pipeline.sync.result import SyncResult


class SyncProgress:
    """Counts records across every running sync; thread-safe."""

    def __init__(self, *, disable: bool = False) -> None:
        self._bar = tqdm(unit=" records", disable=disable, dynamic_ncols=True)
        self._lock = threading.Lock()
        self._pages = 0

    def update(self, result: SyncResult, page: Page) -> None:
        with self._lock:
            self._pages += 1
            self._bar.update(len(page.results))
            self._bar.set_postfix_str(f"{result.model_id} pages={self._pages}", refresh=False)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._bar.close()
