"""The suite's scheduling hook (tests/conftest.py) only reorders: any selection, however small,
comes out as a permutation of itself, long tests at the head of their slices."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

conftest = sys.modules.get("conftest") or __import__("conftest")

LONG = sorted(conftest.EXPECTED_SECONDS)


@dataclass
class FakeItem:
    nodeid: str

    def get_closest_marker(self, name: str) -> None:
        return None


@given(st.lists(st.one_of(st.sampled_from(LONG), st.text("abc", min_size=1, max_size=4)),
                max_size=40, unique=True))
def test_reordering_is_a_permutation_for_any_selection(ids: list[str]) -> None:
    items = [FakeItem(f"tests/x/{i}") for i in ids]
    before = list(items)
    conftest.pytest_collection_modifyitems(None, items)  # type: ignore[arg-type]
    assert sorted(map(id, items)) == sorted(map(id, before))


def test_the_longest_test_starts_a_slice() -> None:
    items = [FakeItem(f"tests/x/short{i}") for i in range(12)] + [FakeItem(f"tests/x/{k}")
                                                                   for k in LONG]
    conftest.pytest_collection_modifyitems(None, items)  # type: ignore[arg-type]
    longest = max(conftest.EXPECTED_SECONDS, key=conftest.EXPECTED_SECONDS.get)
    assert longest in items[0].nodeid
