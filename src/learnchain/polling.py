"""Waiting for a condition on live processes: the one place tests, the demo and experiment
drivers poll a node.

Why one helper: a loaded 2-core machine makes every such wait slow, never instant, and a bare
"timed out" after four minutes says nothing. This one keeps the last error the predicate
raised and can attach a snapshot of the world (`describe`) to the timeout message, so a
failure on CI names what the nodes were doing instead of only what was awaited.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


class WaitTimeout(TimeoutError):
    """The condition did not hold within the deadline."""


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, *,
               poll: float = 0.25, errors: tuple[type[BaseException], ...] = (),
               describe: Callable[[], str] | None = None) -> Any:
    """Poll `predicate` until it returns something truthy and return that value.

    Exceptions of the types in `errors` count as "not yet" (an API hiccup under load); the last
    one is named in the timeout message, followed by `describe()` when given.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = predicate()
        except errors as exc:
            last_error, value = exc, None
        if value:
            return value
        if time.monotonic() >= deadline:
            break
        time.sleep(poll)
    message = f"timed out after {timeout:.0f} s waiting for {what}"
    if last_error is not None:
        message += f"; last error: {type(last_error).__name__}: {last_error}"
    if describe is not None:
        try:
            message += f"; {describe()}"
        except Exception as exc:  # the snapshot is best effort: the world may be gone
            message += f"; (no snapshot: {type(exc).__name__}: {exc})"
    raise WaitTimeout(message)
