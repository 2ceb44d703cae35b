"""The shared wait: returns the first truthy value, tolerates only the errors it is told to,
and a timeout message names the last error and the snapshot."""

from __future__ import annotations

import itertools

import pytest

from learnchain.polling import WaitTimeout, wait_until


def test_returns_the_first_truthy_value():
    counter = itertools.count()
    assert wait_until(lambda: next(counter) >= 3 and "ready", 60.0, "three polls",
                      poll=0.0) == "ready"


def test_tolerated_errors_count_as_not_yet():
    calls = itertools.count()

    def flaky() -> int:
        if next(calls) < 2:
            raise ConnectionError("refused")
        return 7

    assert wait_until(flaky, 60.0, "the API", poll=0.0, errors=(ConnectionError,)) == 7


def test_other_errors_propagate():
    with pytest.raises(KeyError):
        wait_until(lambda: {}["missing"], 60.0, "a key", errors=(ConnectionError,))


def test_timeout_names_what_the_last_error_and_the_snapshot():
    def refused() -> None:
        raise ConnectionError("port 1 refused")

    with pytest.raises(WaitTimeout) as caught:
        wait_until(refused, 0.0, "node 0", errors=(ConnectionError,),
                   describe=lambda: "node 0: height 12")
    text = str(caught.value)
    assert "waiting for node 0" in text
    assert "ConnectionError: port 1 refused" in text and "node 0: height 12" in text


def test_a_failing_snapshot_does_not_hide_the_timeout():
    def broken() -> str:
        raise RuntimeError("gone")

    with pytest.raises(WaitTimeout, match="no snapshot: RuntimeError: gone"):
        wait_until(lambda: False, 0.0, "x", describe=broken)
