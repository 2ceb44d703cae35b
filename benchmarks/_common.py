"""Shared helpers for the benchmark scripts (each prints ratios measured in one run)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch loads only in the benches that train (bench_cli_startup must not)
    from learnchain.ml import dqn


def best_of(runs: int, fn: Callable[[], float]) -> float:
    """Best (largest) rate over several runs: the least disturbed by a noisy machine."""
    return max(fn() for _ in range(runs))


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def plain_torch_dqn(params: bytes, buf: dqn.ReplayBuffer, K: int, C: int,
                    hp: dqn.DQNConfig) -> float:
    """K plain PyTorch DQN steps on the same history: the work with no consensus around it
    (``nn.Module`` Q-network, ``torch.optim.Adam``, numpy minibatch indices, no hashing).
    Returns the seconds of the K steps alone, without building the networks."""
    import numpy as np
    import torch
    from torch.nn import functional as F

    from learnchain.ml import dqn

    net, tgt = dqn.net_from_bytes(params), dqn.net_from_bytes(params)
    opt = torch.optim.Adam(net.parameters(), lr=hp.lr)
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for i in range(K):
        obs, act, rew, nobs, done = buf.gather(rng.integers(0, len(buf), hp.batch_size).tolist())
        with torch.no_grad():
            y = rew + hp.gamma * tgt(nobs).max(dim=1).values * (1.0 - done)
        q = net(obs).gather(1, act.unsqueeze(1)).squeeze(1)
        loss = F.smooth_l1_loss(q, y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), hp.max_grad_norm_ppb / 1e9)
        opt.step()
        if (i + 1) % C == 0:
            tgt.load_state_dict(net.state_dict())
    return time.perf_counter() - start
