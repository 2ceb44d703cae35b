"""Where a collab model's values live in app state, and the model's counters.

`StateStore` lets the models (which know only a key → value store) run over app state:
reads are cached per call and every new key is logged under `m/{id}/k/{n}`, so a model can
be exported without key iteration (app state has none).
"""

from __future__ import annotations

from typing import Any

from learnchain.apps.base import AppError
from learnchain.core.state import StateView

State = StateView


class StateStore:
    """A model store over app state: reads are cached per call, new keys are logged."""

    def __init__(self, state: State, model_id: int, dyn: dict[str, Any] | None) -> None:
        self._state = state
        self._base = f"m/{model_id}/"
        self._prefix = self._base + "s/"
        self._dyn = dyn
        self._cache: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        if key in self._cache:
            return self._cache[key]
        value = self._state.get(self._prefix + key)
        self._cache[key] = value
        return value

    def get_many(self, keys: list[str]) -> list[Any]:
        """Several values at once: the hot path of sparse models."""
        cache, prefix = self._cache, self._prefix
        if not cache:                   # the common case: the first read of this call
            values = self._state.get_many(keys, prefix)
            cache.update(zip(keys, values, strict=True))
            return values
        missing = [k for k in keys if k not in cache]
        if missing:
            values = self._state.get_many(missing, prefix)
            cache.update(zip(missing, values, strict=True))
        return [cache[k] for k in keys]

    def set_many(self, items: dict[str, Any]) -> None:
        """Several values at once (a sparse update writes every listed feature)."""
        if self._dyn is None:
            raise AppError("this model is read-only here")
        cache = self._cache
        for key in items:
            if (cache[key] if key in cache else self.get(key)) is None:
                self._state.set(f"{self._base}k/{self._dyn['keys']}", key)
                self._dyn["keys"] += 1
        cache.update(items)
        prefix = self._prefix
        self._state.set_many(items, prefix)

    def set(self, key: str, value: Any) -> None:
        if self._dyn is None:
            raise AppError("this model is read-only here")
        cache = self._cache
        if (cache[key] if key in cache else self.get(key)) is None:
            self._state.set(f"{self._base}k/{self._dyn['keys']}", key)
            self._dyn["keys"] += 1
        cache[key] = value
        self._state.set(self._prefix + key, value)


def model_items(state: StateView, model_id: int) -> list[tuple[str, Any]]:
    """Every (key, value) of a model's state, via the key log."""
    keys_n = get_dyn(state, model_id)["keys"]
    keys = [state.get(f"m/{model_id}/k/{n}") for n in range(keys_n)]
    return sorted((k, state.get(f"m/{model_id}/s/{k}")) for k in keys)


DYN_FIELDS = ("n", "last", "good", "authors", "keys")


def get_dyn(state: State, model_id: int) -> dict[str, Any]:
    """A model's counters: contributions, last update time, total good, authors, model keys."""
    return dict(zip(DYN_FIELDS, state.get(f"m/{model_id}/dyn"), strict=True))


def put_dyn(state: State, model_id: int, dyn: dict[str, Any]) -> None:
    state.set(f"m/{model_id}/dyn", [dyn[f] for f in DYN_FIELDS])


def escrow_name(model_id: int) -> str:
    return f"m{model_id}"
