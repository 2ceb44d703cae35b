"""Engines by the name a genesis file uses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from learnchain.consensus.base import ConsensusEngine
from learnchain.core.errors import ConfigError


def _pow(config: dict[str, Any]) -> ConsensusEngine:
    from learnchain.consensus.pow import GovernedPow

    return GovernedPow(config)


def _rlpow(config: dict[str, Any]) -> ConsensusEngine:
    from learnchain.consensus.rlpow import RLPowEngine

    return RLPowEngine(config)


def _pole(config: dict[str, Any]) -> ConsensusEngine:
    from learnchain.consensus.pole import PoLeEngine

    return PoLeEngine(config)


ENGINES: dict[str, Callable[[dict[str, Any]], ConsensusEngine]] = {"pow": _pow, "rlpow": _rlpow,
                                                                    "pole": _pole}


def build_engine(name: str, config: dict[str, Any]) -> ConsensusEngine:
    factory = ENGINES.get(name)
    if factory is None:
        raise ConfigError(f"genesis field 'engine': unknown engine {name!r}; "
                          f"available: {', '.join(sorted(ENGINES))}")
    return factory(config)
