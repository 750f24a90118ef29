"""The sandbox's virtual clock: real time plus an offset, or frozen at one instant.

Every timestamp the sandbox writes (``modified_at``, sync times, the ``Date`` header) comes from
here, so tests can move Merge's notion of "now" without sleeping.
"""

import time
from dataclasses import dataclass

from merge_sandbox.timefmt import US_PER_SECOND


def real_now_us() -> int:
    return time.time_ns() // 1000


@dataclass
class VirtualClock:
    """Mutable clock; ``now_us`` is what Merge would consider the current time."""

    offset_us: int = 0
    frozen_at_us: int | None = None

    def now_us(self) -> int:
        if self.frozen_at_us is not None:
            return self.frozen_at_us
        return real_now_us() + self.offset_us

    def advance(self, seconds: float) -> None:
        """Move forward (or back, if negative) by ``seconds``, frozen or not."""
        delta = round(seconds * US_PER_SECOND)
        if self.frozen_at_us is not None:
            self.frozen_at_us += delta
        else:
            self.offset_us += delta

    def skew(self, seconds: float) -> None:
        """Set the offset from real time (replacing any earlier skew) and unfreeze."""
        self.frozen_at_us = None
        self.offset_us = round(seconds * US_PER_SECOND)

    def freeze(self, at_us: int | None = None) -> None:
        self.frozen_at_us = self.now_us() if at_us is None else at_us

    def unfreeze(self) -> None:
        """Continue running from the frozen instant (the offset absorbs the difference)."""
        if self.frozen_at_us is not None:
            self.offset_us = self.frozen_at_us - real_now_us()
            self.frozen_at_us = None

    def set(self, at_us: int) -> None:
        """Jump to ``at_us`` and keep running from there (or stay frozen there)."""
        if self.frozen_at_us is not None:
            self.frozen_at_us = at_us
        else:
            self.offset_us = at_us - real_now_us()

    @property
    def is_frozen(self) -> bool:
        return self.frozen_at_us is not None
