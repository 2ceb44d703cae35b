"""Many learners, one model: the deterministic merge of learner states, and the off-chain
distributed-RL baseline (Ape-X-style shared replay) that experiment 1 compares rlpow against.

``merge_states`` is consensus code (the ``uncles`` design of ``consensus/rlpow_uncles.py``):
every node's K gradient steps from the same start are averaged into the next start, the
model-averaging step of synchronous local SGD. It only uses elementwise IEEE operations in a
fixed order (float64 sums of float32 values, one division, one rounding to float32), so it is
bit-identical on every platform; no reduction across elements is involved.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from learnchain.ml.coins import coin_int, derive_seed, hash_parts
from learnchain.ml.dqn import (
    OPT_MAGIC,
    DQNConfig,
    EpsilonSchedule,
    LearnerState,
    NetSpec,
    ReplayBuffer,
    Transition,
    VerificationError,
    _decode_blob,
    configure_determinism,
    evaluate_greedy,
    init_opt_bytes,
    init_params,
    select_action,
    train,
)
from learnchain.ml.dqn_params import PARAMS_MAGIC
from learnchain.ml.envs import make_env


def _mean_blob(blobs: Sequence[bytes], magic: bytes) -> bytes:
    """Elementwise mean of canonical blobs of one layout (header of the first, data averaged).

    Every blob must have the same header (layout and counter): Adam's step count ``t`` is in
    the optimiser header, and averaging moments of different ``t`` would be meaningless.
    """
    first = blobs[0]
    counter, entries, flat = _decode_blob(first, magic)
    off = len(first) - 4 * flat.size
    acc = flat.astype(np.float64)
    for b in blobs[1:]:
        c, e, f = _decode_blob(b, magic)
        if (c, e) != (counter, entries):
            raise VerificationError("cannot merge learner states of different layouts or "
                                    "optimiser step counts")
        acc += f.astype(np.float64)
    mean = (acc / np.float64(len(blobs))).astype("<f4")
    return first[:off] + mean.tobytes()


def merge_states(states: Sequence[LearnerState]) -> LearnerState:
    """The averaged learner: mean params, mean Adam moments (same ``t``), mean target.

    One state merges to itself bit for bit (x / 1 rounds back to x), so a height with no
    included uncle continues the single learner exactly.
    """
    if not states:
        raise VerificationError("nothing to merge")
    if len(states) == 1:
        return states[0]
    return LearnerState(_mean_blob([s.params for s in states], PARAMS_MAGIC),
                        _mean_blob([s.opt for s in states], OPT_MAGIC),
                        _mean_blob([s.target for s in states], PARAMS_MAGIC))


# ---------------------------------------------------------------------------------------------
# The off-chain baseline: N actors, one shared replay, one learner with the same compute
# ---------------------------------------------------------------------------------------------


@dataclass
class ApexResult:
    """Outcome of ``learn_apex``; ``solved_at`` counts rounds (one env step per actor each)."""

    actors: int
    solved_at: int | None
    rounds: int
    env_steps: int
    grad_steps: int
    evals: list[tuple[int, float]] = field(default_factory=list)
    final_eval: float | None = None
    wall_s: float = 0.0


def learn_apex(env_name: str, actors: int, K: int, seed: bytes, *, max_rounds: int,
               hyper: DQNConfig | None = None, C: int = 200,
               eps: EpsilonSchedule | None = None, learning_starts: int = 500,
               eval_every: int = 250, eval_episodes: int = 10, confirm_episodes: int = 100,
               solve_return: float | None = 195.0,
               on_eval: Callable[[int, float], None] | None = None) -> ApexResult:
    """Ape-X-style distributed DQN without a chain, at the compute of N rlpow nodes.

    Each round every actor ``a`` takes one step in its *own* copy of the environment (its own
    episodes, reset from coins on ``(seed, a)``) with the current parameters and the round's
    ε (the schedule is per round, as rlpow's is per height), and appends the transition to
    one shared replay buffer; then the single learner does ``actors * K`` gradient steps --
    what N rlpow nodes spend per height. Evaluation is that of the chain experiments.
    """
    configure_determinism()
    hyper = hyper or DQNConfig()
    eps = eps or EpsilonSchedule()
    env = make_env(env_name)
    spec = NetSpec(env.obs_dim, env.n_actions, tuple(hyper.hidden))
    params = init_params(spec, hash_parts(seed, b"init"))
    target, opt = params, init_opt_bytes(params, hyper)
    buf = ReplayBuffer(env.obs_dim)
    states = [env.reset(hash_parts(seed, b"reset", struct.pack("<I", a))) for a in range(actors)]
    evals: list[tuple[int, float]] = []
    grad, solved_at, final_eval = 0, None, None
    t0 = time.perf_counter()
    r = 0
    for r in range(1, max_rounds + 1):
        round_seed = derive_seed(seed, r)
        for a in range(actors):
            actor_seed = hash_parts(round_seed, struct.pack("<I", a))
            obs = env.observe(states[a])
            action, _ = select_action(params, obs, eps.eps_ppb(r - 1),
                                      coin_int(actor_seed, "eps", 0))
            out = env.step(states[a], action, actor_seed)
            buf.append(Transition.from_outcome(env, states[a], action, out))
            states[a] = out.next_state
        if len(buf) >= learning_starts and K > 0:
            proof = train(params, target, buf, actors * K, C, grad, round_seed, hyper,
                          opt_bytes=opt, keep_blobs=False)
            params, target, opt = proof.final_params, proof.final_target, proof.final_opt
            grad += actors * K
        if r % eval_every:
            continue
        score = evaluate_greedy(params, env_name, eval_episodes,
                                hash_parts(seed, b"eval", struct.pack("<Q", r)))
        evals.append((r, score))
        if on_eval is not None:
            on_eval(r, score)
        if solve_return is not None and score >= solve_return:
            final_eval = evaluate_greedy(params, env_name, confirm_episodes,
                                         hash_parts(seed, b"confirm", struct.pack("<Q", r)))
            if final_eval >= solve_return:
                solved_at = r
                break
    return ApexResult(actors, solved_at, r, r * actors, grad, evals, final_eval,
                      time.perf_counter() - t0)


