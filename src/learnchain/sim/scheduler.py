"""A discrete-event scheduler with a virtual clock in milliseconds."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable


class Scheduler:
    def __init__(self, start_ms: int = 0) -> None:
        self.now_ms = float(start_ms)
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self.events_run = 0

    def clock(self) -> int:
        return int(self.now_ms)

    def at(self, time_ms: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (max(time_ms, self.now_ms), next(self._order), action))

    def after(self, delay_ms: float, action: Callable[[], None]) -> None:
        self.at(self.now_ms + delay_ms, action)

    def run(self, until_ms: float | None = None, stop: Callable[[], bool] | None = None,
            max_events: int | None = None) -> None:
        while self._queue:
            if until_ms is not None and self._queue[0][0] > until_ms:
                self.now_ms = until_ms
                return
            if stop is not None and stop():
                return
            if max_events is not None and self.events_run >= max_events:
                return
            self.now_ms, _, action = heapq.heappop(self._queue)
            self.events_run += 1
            action()
        if until_ms is not None:
            self.now_ms = max(self.now_ms, until_ms)
