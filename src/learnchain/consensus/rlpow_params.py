"""rlpow's consensus parameters and the coins its rules draw from chain data.

Pure functions of headers and seeds (no engine state): what a block mints, the ε schedule, and
the h(seed‖ctr) coins behind the oracle step, the exploration draw, the minibatches and a
proposer's first parameters (docs/consensus-rlpow.md).
"""

from __future__ import annotations

from typing import Any

from learnchain.core.encoding import encode
from learnchain.core.types import BlockHeader
from learnchain.ml import coins, dqn
from learnchain.ml.fixedpoint import PPB, SCALE, clip_reward_fp

FORMAT_VERSION = 1
HEADER_KEYS = frozenset({"v", "s", "a", "r", "done", "ret", "eps", "explored", "theta",
                         "theta_cid", "k", "after", "work", "mint"})
REPLAY_MODES = ("shared", "own")
MAX_K = 4096

PARAM_RANGES: dict[str, tuple[int, int]] = {
    "K": (1, MAX_K),
    "C": (1, 10**9),
    "audit_steps": (0, MAX_K),
    "learning_starts": (1, 10**12),
    "eps_start_ppb": (0, PPB),
    "eps_end_ppb": (0, PPB),
    "eps_decay_blocks": (0, 10**12),
    "base_reward": (0, 10**18),
    "kappa": (0, 10**18),
    "reward_cap_fp": (0, 10**18),
    "min_interval_ms": (0, 10**9),
    "signer_limit": (1, 10**6),
}


def default_rlpow_params() -> dict[str, Any]:
    """Consensus parameters (governable): the CartPole-tuned values of docs/ml-determinism §8."""
    return {"K": 1, "C": 200, "audit_steps": 1, "learning_starts": 500,
            "eps_start_ppb": PPB, "eps_end_ppb": 50_000_000, "eps_decay_blocks": 2500,
            "base_reward": 10, "kappa": 40, "reward_cap_fp": SCALE,
            "min_interval_ms": 50, "signer_limit": 1}


DEVNET_RLPOW_PARAMS: dict[str, Any] = {"K": 4}
"""Devnets and demos: 4 gradient steps per block (env step). With K = 1, four CartPole nodes
need about 5,000-9,000+ blocks and some runs do not settle; K = 4 solves in 1,000-2,000 blocks
for about 1.5 ms more work per block (docs/experiments/rlpow.md §0)."""


def mint_for(reward_fp: int, params: dict[str, Any]) -> int:
    """Coinbase ``base + κ·clip(R, 0, R_cap)`` in whole tokens (κ is tokens per unit reward)."""
    clipped = clip_reward_fp(reward_fp, int(params["reward_cap_fp"]))
    return int(params["base_reward"]) + int(params["kappa"]) * clipped // SCALE


def schedule_of(params: dict[str, Any]) -> dqn.EpsilonSchedule:
    return dqn.EpsilonSchedule(int(params["eps_start_ppb"]), int(params["eps_end_ppb"]),
                               int(params["eps_decay_blocks"]))


def coin_seed(header: BlockHeader, parent_seed: bytes) -> bytes:
    """The randomness a block hands its children, from what its proposer cannot vary freely.

    Not the block hash: a proposer could re-sign with other timestamps or transactions until
    the hash gave a later block (its own or an ally's) a good oracle draw or exploration coin,
    at one signature per try. The seed chains the parent's seed with the block's position, its
    proposer and the outcome of its work (S, A, R, done, θ_before, θ_after), never a hash, so no
    header field outside the work reaches any later coin. Those inputs are fixed by the parent's
    seed and the proposer's lineage: another draw costs redoing the K training steps (or
    withholding the block), as in proof of work.
    """
    f = header.engine_fields
    essence = [header.height, header.proposer, f.get("s"), f.get("a"), f.get("r"),
               f.get("done"), f.get("theta"), f.get("after")]
    return coins.hash_parts(b"rlpow/seed", parent_seed, encode(essence))


def exploration_coin(seed: bytes, proposer: bytes) -> int:
    """``u = h(seed ‖ proposer ‖ "eps")``: fixed before the proposer acts, unique per node."""
    return coins.coin_int(coins.hash_parts(seed, proposer), "eps", 0)


def env_seed(seed: bytes) -> bytes:
    """``h(seed ‖ 0)``: the oracle step's (and on done, the reset's) randomness."""
    return coins.derive_seed(seed, 0)


def training_seed(seed: bytes, proposer: bytes, tx_root: bytes) -> bytes:
    """Minibatch coins: bound to the parent's seed, the proposer and the block's transactions.

    The transaction root makes the work specific to one body: the same training cannot seal
    two blocks at one height paying different people, nor be reused to rewrite the
    transactions of a block already published (docs/consensus-rlpow.md §5). The prover still
    has no choice over the coins: the root is fixed before the work starts.
    """
    return coins.hash_parts(b"rlpow/train/v2", seed, proposer, tx_root)


def init_seed(genesis: bytes, proposer: bytes) -> bytes:
    """A proposer's first parameters come from coins on (genesis, proposer): no free choice."""
    return coins.hash_parts(b"rlpow/init", genesis, proposer)
