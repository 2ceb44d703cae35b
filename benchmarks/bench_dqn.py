"""Cost of verifiable DQN work: committed ``train`` vs a plain torch loop, and replay costs.

Prints, for K in {8, 32} gradient steps on a CartPole history (net 64x64, batch 64):
* raw    -- plain torch loop: ``nn.Module`` Q-network, ``torch.optim.Adam``, numpy indices;
* train  -- ``dqn.train`` with coins, fixed-point history, per-step hashes and blob store;
* ratio  -- train / raw (the engine's target overhead budget is <= 1.2 overall);
* commit -- train / the same flat learner stepping without any serialisation or hashing,
  i.e. the pure cost of the per-step commitments;
* replay -- re-executing one step (``replay_step``) vs all K, i.e. what an audit of s steps
  saves; and ``verify_proof`` with s = 2 audited steps.
Timings are the median of several repetitions, single-threaded.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from _common import plain_torch_dqn
from learnchain.ml import dqn
from learnchain.ml.coins import derive_seed
from learnchain.ml.envs import make_env

HP = dqn.DQNConfig()
C = 200
REPS = 15


def build_history(n: int) -> dqn.ReplayBuffer:
    env = make_env("CartPole-v1")
    state = env.reset(b"bench")
    buf = dqn.ReplayBuffer(env.obs_dim)
    for t in range(n):
        action = (t * 7 + t // 5) % 2
        out = env.step(state, action, derive_seed(b"bench", t))
        buf.append(dqn.Transition.from_outcome(env, state, action, out))
        state = out.next_state
    return buf


def raw_loop(params: bytes, buf: dqn.ReplayBuffer, K: int) -> None:
    plain_torch_dqn(params, buf, K, C, HP)


def bare_loop(params: bytes, opt: bytes, buf: dqn.ReplayBuffer, K: int, seed: bytes) -> None:
    learner = dqn._Learner(dqn.LearnerState(params, opt, params), HP)
    for i in range(K):
        learner.step(buf, i, seed, C)


def median_time(fn: Callable[[], object], reps: int = REPS) -> float:
    fn()  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    dqn.configure_determinism()
    print(f"settings: {dqn.ComputeSettings.current().to_record()}")
    buf = build_history(2_000)
    params = dqn.init_params(dqn.NetSpec(4, 2, HP.hidden), b"bench-init")
    opt = dqn.init_opt_bytes(params, HP)
    seed = b"bench-seed"
    print(f"{'K':>3}{'raw ms':>9}{'train ms':>10}{'ratio':>7}{'commit':>8}{'no-blob':>9}"
          f"{'replay1 ms':>12}{'K/1':>7}{'audit2 ms':>11}")
    for K in (8, 32):
        raw = median_time(lambda K=K: raw_loop(params, buf, K))
        ours = median_time(lambda K=K: dqn.train(params, params, buf, K, C, 0, seed, HP,
                                                 opt_bytes=opt))
        bare = median_time(lambda K=K: bare_loop(params, opt, buf, K, seed))
        lean = median_time(lambda K=K: dqn.train(params, params, buf, K, C, 0, seed, HP,
                                                 opt_bytes=opt, keep_blobs=False))
        proof = dqn.train(params, params, buf, K, C, 0, seed, HP, opt_bytes=opt)
        before = proof.state_before(K // 2)
        rep = median_time(lambda K=K, b=before: dqn.replay_step(
            b.params, b.target, buf, K // 2, seed, HP, C=C, opt_bytes=b.opt))
        start = dqn.LearnerState(params, opt, params)
        audit = median_time(lambda p=proof, s=start, K=K: dqn.verify_proof(
            p, s, buf, HP, K=K, C=C, seed=seed, step_counter_start=0, check_seed=b"audit",
            n_checks=2), reps=5)
        print(f"{K:>3}{raw * 1e3:>9.2f}{ours * 1e3:>10.2f}{ours / raw:>7.2f}{ours / bare:>8.2f}"
              f"{lean / raw:>9.2f}{rep * 1e3:>12.2f}{ours / rep:>7.1f}{audit * 1e3:>11.2f}")


if __name__ == "__main__":
    main()
