"""Deep Q-learning as verifiable work: networks, commitments, action selection, train/replay.

Design (normative for the ``rlpow`` engine; the rationale is in ``docs/ml-determinism.md``):

* **Parameters** are float32. Their canonical bytes (``params_to_bytes``) are a header listing
  every tensor (state-dict keys sorted, with shapes) followed by all tensor data as one
  little-endian float32 block in the same order. ``params_hash = SHA-256(bytes)``, so the hash
  is also the content id of the bytes in a content store.
* **Initialisation** comes from coins, not from torch's RNG: every weight is
  ``bound * (2 * (u + 0.5) / 2**32 - 1)`` with ``u`` a 32-bit word of
  ``coin_stream(seed, "dqn/init/<name>")`` and ``bound = 1 / sqrt(fan_in)`` (PyTorch's default
  ``nn.Linear`` range). Only IEEE basic operations are involved, so init is exact everywhere.
* **Optimiser** is Adam (default, learns CartPole far faster than SGD) or plain SGD,
  implemented by hand on one flat float32 vector. Adam's moments ``m, v`` and its step count
  are part of the committed learner state (``opt`` bytes, same canonical format), and its bias
  corrections use ``beta**t`` by exponentiation-by-squaring (IEEE multiplications only, no
  libm ``pow``).
* **Work** is ``K`` DQN gradient steps. Step ``i`` (a *global* step counter) draws its
  minibatch with ``coin_indices(seed, "dqn/minibatch", i, len(history), batch)``, minimises
  Huber (default, robust to the large early TD errors of a high replay ratio) or squared TD
  error against the target network, and then copies ``theta -> theta_target`` iff
  ``(i + 1) % C == 0``.
* **Proof**: after every step the prover commits ``(params_hash, opt_hash, target_hash)`` and
  keeps every intermediate blob, addressed by its hash, in ``TrainingProof.blobs``. A verifier
  re-executes any step ``i`` in isolation from the blobs named by commit ``i - 1`` (or the
  start commit) and compares with commit ``i``: bit-exactly when the prover's
  ``ComputeSettings`` equal its own, else within a calibrated ``param_distance`` threshold.
* **Determinism**: ``configure_determinism()`` (called by every entry point) sets one torch
  thread and deterministic algorithms; the remaining platform dependence (GEMM kernel choice
  by CPU capability) is exactly what ``ComputeSettings`` records.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from learnchain.ml.coins import coin_int, derive_seed, hash_parts
from learnchain.ml.dqn_learner import (
    DQNConfig,
    EpsilonSchedule,
    LearnerState,
    StepCommit,
    _Learner,
    greedy_action,
    q_values,
    select_action,
)
from learnchain.ml.dqn_params import (
    _HEADERS,
    DEFAULT_DISTANCE_THRESHOLD,
    FORMAT_VERSION,
    MINIBATCH_LABEL,
    OPT_MAGIC,
    PARAMS_MAGIC,
    ComputeSettings,
    NetSpec,
    QNetwork,
    VerificationError,
    _decode_blob,
    _flat_of,
    _forward,
    _Layout,
    configure_determinism,
    init_opt_bytes,
    init_params,
    max_abs_distance,
    net_from_bytes,
    opt_distance,
    param_distance,
    params_from_bytes,
    params_hash,
    params_to_bytes,
    spec_from_bytes,
)
from learnchain.ml.dqn_proof import (
    ThresholdCalibration,
    TrainingProof,
    TrainingSettings,
    calibrate_threshold,
    replay_step,
    steps_to_check,
    train,
    verify_proof,
    verify_step,
)
from learnchain.ml.envs import State, make_env
from learnchain.ml.fixedpoint import SCALE, batch_from_fp
from learnchain.ml.replay import ReplayBuffer, Transition, history_digest

__all__ = [  # the public names, plus the internals tests and benchmarks inspect
    "DEFAULT_DISTANCE_THRESHOLD",
    "FORMAT_VERSION",
    "MINIBATCH_LABEL",
    "OPT_MAGIC",
    "PARAMS_MAGIC",
    "_HEADERS",
    "ComputeSettings",
    "DQNConfig",
    "EpsilonSchedule",
    "LearnerState",
    "NetSpec",
    "OfflineResult",
    "QNetwork",
    "ReplayBuffer",
    "StepCommit",
    "ThresholdCalibration",
    "TrainingProof",
    "TrainingSettings",
    "Transition",
    "VerificationError",
    "_Learner",
    "_decode_blob",
    "calibrate_threshold",
    "configure_determinism",
    "evaluate_greedy",
    "greedy_action",
    "history_digest",
    "init_opt_bytes",
    "init_params",
    "learn_offline",
    "max_abs_distance",
    "net_from_bytes",
    "opt_distance",
    "param_distance",
    "params_from_bytes",
    "params_hash",
    "params_to_bytes",
    "q_values",
    "replay_step",
    "select_action",
    "spec_from_bytes",
    "steps_to_check",
    "train",
    "verify_proof",
    "verify_step",
]


# ---------------------------------------------------------------------------------------------
# Off-chain evaluation and the single-node learning loop
# ---------------------------------------------------------------------------------------------


def evaluate_greedy(params_bytes: bytes, env_name: str, episodes: int, seed: bytes,
                    horizon: int | None = None) -> float:
    """Mean undiscounted return of the greedy policy over ``episodes`` oracle episodes.

    Off-chain: episodes run in lock-step so one batched forward pass serves all of them.
    Episode ``e`` resets from ``derive_seed(seed, e)``; its step ``t`` uses
    ``derive_seed(hash_parts(seed, e), t)`` (only stochastic envs read it). A continuing env
    (``env.continuing``) never ends an episode: each run is cut at ``horizon`` steps
    (default ``env.eval_horizon``) and the result is the mean reward *per step*.
    """
    configure_determinism()
    spec, flat_np = _flat_of(params_bytes)
    flat, lay = torch.from_numpy(flat_np.copy()), _Layout.of(spec)
    envs = [make_env(env_name) for _ in range(episodes)]
    states: list[State | None] = [envs[e].reset(derive_seed(seed, e)) for e in range(episodes)]
    ep_seeds = [hash_parts(seed, struct.pack("<Q", e)) for e in range(episodes)]
    returns = [0] * episodes
    continuing = bool(getattr(envs[0], "continuing", False)) if envs else False
    if continuing and horizon is None:
        horizon = int(getattr(envs[0], "eval_horizon", 200))
    t = 0
    while True:
        live = [e for e in range(episodes) if states[e] is not None]
        if not live or (horizon is not None and t >= horizon):
            break
        x = torch.from_numpy(batch_from_fp([envs[e].observe(states[e]) for e in live]))
        with torch.no_grad():
            q = _forward(x, flat, lay).tolist()
        for e, qe in zip(live, q, strict=True):
            out = envs[e].step(states[e], greedy_action(qe), derive_seed(ep_seeds[e], t))
            returns[e] += out.reward_fp
            states[e] = None if out.done else out.next_state
        t += 1
    per = max(t, 1) if continuing else 1
    return sum(returns) / SCALE / max(episodes, 1) / per


@dataclass
class OfflineResult:
    """Outcome of ``learn_offline``; ``solved_at`` is the env step of the first passing eval."""

    params: bytes
    target: bytes
    opt: bytes
    history: ReplayBuffer
    episode_returns: list[float]
    evals: list[tuple[int, float]]
    solved_at: int | None
    final_eval: float | None
    wall_time_s: float
    env_steps: int
    grad_steps: int


def learn_offline(env_name: str, steps: int, K: int, seed: bytes, *,
                  hyper: DQNConfig | None = None, C: int = 200,
                  eps: EpsilonSchedule | None = None, learning_starts: int = 500,
                  eval_every: int = 1000, eval_episodes: int = 10,
                  solve_return: float | None = 195.0, confirm_episodes: int = 100,
                  keep_blobs: bool = False,
                  on_eval: Callable[[int, float], None] | None = None) -> OfflineResult:
    """One node producing every block alone: act, append the transition, do K DQN steps.

    Block ``t`` uses ``derive_seed(seed, t)`` as its chain seed: exploration coin
    ``coin_int(., "eps", 0)``, env step seed, and training seed (the same derivations the
    engine uses with real parent hashes). Every ``eval_every`` blocks the greedy policy is
    evaluated on ``eval_episodes``; when that mean reaches ``solve_return`` it is confirmed on
    ``confirm_episodes`` fresh episodes and, if confirmed, learning stops (``solved_at``).
    """
    hyper = hyper or DQNConfig()
    eps = eps or EpsilonSchedule()
    env = make_env(env_name)
    spec = NetSpec(env.obs_dim, env.n_actions, tuple(hyper.hidden))
    params = init_params(spec, hash_parts(seed, b"init"))
    target = params
    opt = init_opt_bytes(params, hyper)
    buf = ReplayBuffer(env.obs_dim)
    state = env.reset(hash_parts(seed, b"reset"))
    ep_ret, ep_returns, evals = 0, [], []
    grad_steps, solved_at, final_eval = 0, None, None
    t0 = time.perf_counter()
    t = 0
    for t in range(steps):
        block_seed = derive_seed(seed, t)
        obs = env.observe(state)
        action, _ = select_action(params, obs, eps.eps_ppb(t), coin_int(block_seed, "eps", 0))
        out = env.step(state, action, block_seed)
        buf.append(Transition.from_outcome(env, state, action, out))
        ep_ret += out.reward_fp
        if out.done:
            ep_returns.append(ep_ret / SCALE)
            ep_ret = 0
        state = out.next_state
        if t + 1 >= learning_starts and K > 0:
            proof = train(params, target, buf, K, C, grad_steps, block_seed, hyper,
                          opt_bytes=opt, keep_blobs=keep_blobs)
            params, target, opt = proof.final_params, proof.final_target, proof.final_opt
            grad_steps += K
        if (t + 1) % eval_every == 0:
            eval_seed = hash_parts(seed, b"eval", struct.pack("<Q", t))
            score = evaluate_greedy(params, env_name, eval_episodes, eval_seed)
            evals.append((t + 1, score))
            if on_eval is not None:
                on_eval(t + 1, score)
            if solve_return is not None and score >= solve_return:
                final_eval = evaluate_greedy(params, env_name, confirm_episodes,
                                             hash_parts(seed, b"confirm", struct.pack("<Q", t)))
                if on_eval is not None:
                    on_eval(-(t + 1), final_eval)
                if final_eval >= solve_return:
                    solved_at = t + 1
                    break
    return OfflineResult(params, target, opt, buf, ep_returns, evals, solved_at, final_eval,
                         time.perf_counter() - t0, t + 1, grad_steps)
