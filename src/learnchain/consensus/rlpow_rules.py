"""rlpow rules that bound history and bind platforms: pure functions the engine calls.

* **Pace** (`validate_pace`): a block's timestamp is at least ``min_interval_ms`` after its
  parent's, and a proposer may sign at most one of any ``signer_limit`` consecutive blocks
  (Clique's rule, EIP-225). With the chain's bound on timestamps ahead of a node's clock
  (genesis ``max_future_ms``), one key cannot make more than ``(elapsed + max_future) / Δ``
  blocks however fast it trains, and with ``signer_limit = ⌊N/2⌋ + 1`` a minority of keys
  cannot extend a branch alone at all. Training work is the same for everyone and takes
  milliseconds, so it cannot bound the rate by itself (docs/consensus-rlpow.md §5).
* **Platforms** (`PlatformRegistry`): a miner's compute platform is registered with its
  identity in genesis (``engine_config.platforms``). A block's proof must carry its proposer's
  registered platform, and only a registered platform that differs from the verifier's
  reaches the tolerance path; a proof of an unregistered miner is checked bit-exactly
  whatever label it claims, so relabelling buys nothing.
* **Cumulative drift** (`DriftLedger`): under tolerance, the distances an auditor measures on
  one proposer's steps are summed; the sum must stay within ``mean · n + slack``. A prover
  that nudges every step by a chosen amount below the per-step threshold (5e-5) exceeds the
  budget after a few audited steps, while honest cross-platform rounding (≤ 2e-7 per step,
  ml-determinism §7) never comes close.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from learnchain.core.errors import ConfigError, InvalidBlock
from learnchain.core.types import BlockHeader
from learnchain.ml import dqn

DEFAULT_DRIFT_MEAN_PPB = 1_000
"""Mean distance per audited step allowed over a proposer's history: 1e-6, five times the
largest honest cross-platform noise measured (2e-7, ml-determinism §7) and a fiftieth of the
5e-5 nudge the cumulative check must catch. The slack on top is one step's threshold."""


def validate_pace(header: BlockHeader, parent: BlockHeader, recent_proposers: Sequence[bytes],
                  params: Mapping[str, Any]) -> None:
    """The block-rate rule. `recent_proposers`: the proposers of the parent and its ancestors,
    newest first, at least ``signer_limit - 1`` of them (fewer near genesis)."""
    interval = int(params.get("min_interval_ms", 0))
    gap = header.timestamp_ms - parent.timestamp_ms
    if gap < interval:
        raise InvalidBlock(f"block rate: timestamp is {gap} ms after the parent's, the "
                           f"consensus minimum is {interval} ms")
    limit = int(params.get("signer_limit", 1))
    window = list(recent_proposers)[:limit - 1]
    if header.proposer in window:
        ago = window.index(header.proposer) + 1
        raise InvalidBlock(f"block rate: proposer 0x{header.proposer.hex()[:12]} signed the "
                           f"block {ago} below; a key signs at most one of any {limit} "
                           "consecutive blocks")


def earliest_timestamp(parent: BlockHeader, params: Mapping[str, Any]) -> int:
    return parent.timestamp_ms + int(params.get("min_interval_ms", 0))


def _settings_of(record: Any, where: str) -> dqn.ComputeSettings:
    fields = set(dqn.ComputeSettings.__dataclass_fields__)
    if not isinstance(record, dict) or set(record) != fields:
        raise ConfigError(f"{where}: a platform is a ComputeSettings record with fields "
                          f"{sorted(fields)}")
    return dqn.ComputeSettings(**{k: v if isinstance(v, int) else str(v)
                                  for k, v in record.items()})


@dataclass(frozen=True)
class PlatformRegistry:
    """Registered compute platform per miner address (genesis ``engine_config.platforms``)."""

    by_address: dict[bytes, dqn.ComputeSettings] = field(default_factory=dict)

    @classmethod
    def from_config(cls, plain: Any) -> PlatformRegistry:
        if plain is None:
            return cls()
        if not isinstance(plain, dict):
            raise ConfigError("engine_config.platforms maps 0x miner addresses to platforms")
        out: dict[bytes, dqn.ComputeSettings] = {}
        for address, record in plain.items():
            try:
                raw = bytes.fromhex(str(address).removeprefix("0x"))
            except ValueError:
                raw = b""
            if len(raw) != 20:
                raise ConfigError(f"engine_config.platforms: {address!r} is not an address")
            out[raw] = _settings_of(record, f"engine_config.platforms[{address}]")
        return cls(out)

    def platform_for(self, proposer: bytes, claimed: dqn.ComputeSettings,
                     mine: dqn.ComputeSettings) -> dqn.ComputeSettings:
        """The platform a proof is judged as: the registered one, which the proof must
        carry. Unregistered proposers are judged as the verifier's own platform (bit-exact),
        whatever their proof claims."""
        registered = self.by_address.get(proposer)
        if registered is None:
            return mine
        if claimed != registered:
            raise InvalidBlock(f"platform label: the proof claims {claimed.cpu_capability!r} "
                               f"(torch {claimed.torch_version}), the proposer is registered "
                               f"on {registered.cpu_capability!r} (torch "
                               f"{registered.torch_version})")
        return registered


@dataclass
class DriftLedger:
    """Node-local sum of audited cross-platform distances per proposer (see module doc)."""

    mean: float
    slack: float
    totals: dict[bytes, tuple[float, int]] = field(default_factory=dict)

    def check(self, proposer: bytes, distances: Sequence[float]) -> None:
        """Add this block's audited distances; raise when the proposer's sum is over budget
        (nothing is recorded then, so the verdict does not depend on retries)."""
        total, n = self.totals.get(proposer, (0.0, 0))
        total += sum(distances)
        n += len(distances)
        budget = self.mean * n + self.slack
        if total > budget:
            raise InvalidBlock(f"training steps do not reproduce: cumulative drift {total:.3e} "
                               f"over {n} audited steps of this proposer exceeds "
                               f"{budget:.3e} (mean {self.mean:.1e}/step + {self.slack:.1e})")
        self.totals[proposer] = (total, n)
