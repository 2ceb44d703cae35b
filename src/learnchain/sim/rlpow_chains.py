"""Real rlpow chains for experiments, benchmarks and tests: keys, genesis, a local node
with its own store and clock, and the process-pool map every rlpow experiment fans out with.

Split out of `rlpow_experiments` so each experiment module (learning, tamper, attack, verify
cost, multi) builds its chains the same way without importing the others.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from learnchain.consensus.rlpow import RLPowEngine, default_rlpow_params
from learnchain.core.chain import Chain
from learnchain.core.crypto import PrivateKey, to_checksum_address
from learnchain.core.genesis import GenesisConfig
from learnchain.core.types import Block
from learnchain.experiments.fanout import fan_out
from learnchain.node import open_chain
from learnchain.testing import GENESIS_MS, ManualClock

DEFAULT_OUT = Path("experiments/out/rlpow")  # docs/experiments/rlpow only via `--publish`

Progress = Callable[[int, int], None]


def map_jobs(fn: Callable[[Any], Any], jobs: list[Any], workers: int,
             progress: Progress | None = None) -> list[Any]:
    """``[fn(j) for j in jobs]`` over ``workers`` local processes: the experiments layer's
    `fan_out`, under the name the rlpow experiments call it by."""
    return fan_out(fn, jobs, workers=workers, progress=progress)


def keys_for(n: int, prefix: str = "rlpow-node") -> list[PrivateKey]:
    return [PrivateKey.from_seed(f"{prefix}-{i}".encode()) for i in range(n)]


def rlpow_genesis(keys: Sequence[PrivateKey], *, env: str = "CartPole-v1",
                  params: dict[str, Any] | None = None, replay: str = "shared",
                  fork_choice: str = "longest-then-reward-sum",
                  dqn_config: dict[str, Any] | None = None,
                  max_reorg_depth: int = 1000, design: str = "lineage") -> GenesisConfig:
    """A genesis where every key is a consortium member and an rlpow miner."""
    addresses = [to_checksum_address(k.address) for k in keys]
    engine_config: dict[str, Any] = {"env": env, "replay": replay}
    if dqn_config:
        engine_config["dqn"] = dqn_config
    if design != "lineage":  # the default stays out of the config (same genesis hash as before)
        engine_config["design"] = design
    return GenesisConfig(
        timestamp_ms=GENESIS_MS, engine="rlpow", engine_config=engine_config,
        fork_choice=fork_choice, max_reorg_depth=max_reorg_depth,
        apps={"bank": {"allocations": {}},
              "identity": {"members": addresses,
                           "identities": {a: ["miner"] for a in addresses}},
              "consensus": {"params": {**default_rlpow_params(), **(params or {})},
                            "miners": addresses, "controller": addresses[0]}})


@dataclass
class LocalChain:
    """One chain, several proposer keys: blocks are built, sealed, signed and imported."""

    chain: Chain
    keys: list[PrivateKey]
    clock: ManualClock

    @property
    def engine(self) -> RLPowEngine:
        engine = self.chain.engine
        assert isinstance(engine, RLPowEngine)
        return engine

    def propose(self, key: PrivateKey, step_ms: int = 1000) -> Block:
        """Build, seal and sign a block by `key` on the head (not imported)."""
        self.clock.advance(step_ms)
        candidate, _ = self.chain.build_candidate([], key.address)
        cp = self.chain.consensus_params()
        sealed = self.engine.seal(candidate.header, cp, threading.Event())
        assert sealed is not None
        return Block(sealed, candidate.transactions).signed(key)

    def produce(self, key: PrivateKey, step_ms: int = 1000) -> Block:
        block = self.propose(key, step_ms)
        self.chain.add_block(block)
        return block


def local_chain(genesis: GenesisConfig, keys: list[PrivateKey], *,
                retain_intermediate: bool = True, clock: ManualClock | None = None
                ) -> LocalChain:
    clock = clock or ManualClock()
    chain = open_chain(":memory:", genesis, clock=clock)
    engine = chain.engine
    assert isinstance(engine, RLPowEngine)
    engine.retain_intermediate = retain_intermediate
    engine.audit_salt = b"experiment"
    return LocalChain(chain, keys, clock)


def _write(out: Path | None, name: str, data: dict[str, Any],
           plot: Callable[[Path], None] | None) -> None:
    if out is None:
        return
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(data, indent=1, default=str) + "\n")
    if plot is not None:
        plot(out / f"{name}.png")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# ----- forgeries the attack tests and benchmarks share --------------------------------------


def audit_salt_for(block_hash: bytes, k: int, step: int) -> bytes:
    """A verifier salt whose one-step audit (s = 1) of `block_hash` replays local `step`: lets
    a test choose which verifier catches a bad step and which misses it."""
    from learnchain.ml import coins, dqn

    for i in range(10_000):
        salt = f"salt-{i}".encode()
        if dqn.steps_to_check(coins.hash_parts(b"rlpow/audit", block_hash, salt), k, 1) == [step]:
            return salt
    raise AssertionError(f"no salt among 10,000 audits step {step} of {k}")


def swap_last_step(engine: RLPowEngine, block: Block, key: PrivateKey) -> Block:
    """`block` re-signed with its last training commitment replaced by a network trained
    elsewhere (the last-step-swap forgery): every step but the last replays honestly."""
    from dataclasses import replace

    from learnchain.consensus.rlpow import Manifest
    from learnchain.ml import dqn

    fields = block.header.engine_fields
    m = Manifest.from_bytes(engine.blobs.get(fields["work"]) or b"")
    pretrained = engine.blobs.put(dqn.init_params(engine.spec, b"pre-trained elsewhere"))
    steps = [*m.steps[:-1], (pretrained, *m.steps[-1][1:])]
    work = engine.blobs.put(Manifest(m.step0, m.start, tuple(steps), m.compute).to_bytes())
    header = replace(block.header, engine_fields={**fields, "after": list(steps[-1]),
                                                  "work": work})
    return Block(header, block.transactions).signed(key)

