"""Transitions and the replay buffer (the chain is the shared replay buffer).

Split out of ``learnchain.ml.dqn`` (which re-exports every name).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from learnchain.ml.dqn_params import VerificationError
from learnchain.ml.envs import OracleEnv, State, StepOutcome
from learnchain.ml.fixedpoint import SCALE, FpVector, batch_from_fp


@dataclass(frozen=True)
class Transition:
    """``(S, A, R, S', done)`` in fixed point; ``done`` means *terminated* (no bootstrap).

    ``obs``/``next_obs`` are the Q-network features (``env.observe``); a time-limit
    truncation is not ``done`` and bootstraps from the state actually reached.
    """

    obs: FpVector
    action: int
    reward_fp: int
    next_obs: FpVector
    done: bool

    @classmethod
    def from_outcome(cls, env: OracleEnv, state: State, action: int, outcome: StepOutcome
                     ) -> Transition:
        return cls(env.observe(state), action, outcome.reward_fp,
                   env.observe(outcome.reached_state), outcome.terminated)

    def to_bytes(self) -> bytes:
        return struct.pack(
            f"<B{len(self.obs)}qIqB{len(self.next_obs)}qB",
            len(self.obs), *self.obs, self.action, self.reward_fp,
            len(self.next_obs), *self.next_obs, int(self.done),
        )


def history_digest(history: Iterable[Transition]) -> bytes:
    """Commitment to a transition list (order-sensitive); O(n), for audits, not per step."""
    h = hashlib.sha256(b"learnchain/ml/history/v1")
    n = 0
    for tr in history:
        b = tr.to_bytes()
        h.update(struct.pack("<I", len(b)) + b)
        n += 1
    h.update(struct.pack("<Q", n))
    return h.digest()


class ReplayBuffer:
    """Append-only transition list with float32 arrays maintained incrementally.

    Conversion fp -> float32 happens once per transition (``batch_from_fp``: exact IEEE
    steps), so a training step only indexes arrays. Storage is numpy (element writes and
    fancy indexing cost microseconds, where torch indexing costs tens), and ``gather`` hands
    torch the gathered copies without another copy. ``truncate`` supports chain reorgs.
    """

    def __init__(self, obs_dim: int, capacity: int = 1024) -> None:
        self.obs_dim = obs_dim
        self.transitions: list[Transition] = []
        self._alloc(max(capacity, 1))

    def _alloc(self, cap: int) -> None:
        old = getattr(self, "_obs", None)
        n = len(self.transitions)
        obs = np.zeros((cap, self.obs_dim), dtype=np.float32)
        nobs = np.zeros((cap, self.obs_dim), dtype=np.float32)
        act = np.zeros(cap, dtype=np.int64)
        rew = np.zeros(cap, dtype=np.float32)
        done = np.zeros(cap, dtype=np.float32)
        if old is not None and n:
            obs[:n], nobs[:n] = self._obs[:n], self._nobs[:n]
            act[:n], rew[:n], done[:n] = self._act[:n], self._rew[:n], self._done[:n]
        self._obs, self._nobs, self._act, self._rew, self._done = obs, nobs, act, rew, done

    @classmethod
    def from_transitions(cls, history: Sequence[Transition]) -> ReplayBuffer:
        if not history:
            raise VerificationError("history is empty")
        buf = cls(len(history[0].obs), capacity=len(history))
        buf.extend(history)
        return buf

    def __len__(self) -> int:
        return len(self.transitions)

    def __getitem__(self, i: int) -> Transition:
        return self.transitions[i]

    def append(self, tr: Transition) -> None:
        if len(tr.obs) != self.obs_dim or len(tr.next_obs) != self.obs_dim:
            raise VerificationError(f"transition obs dim != {self.obs_dim}")
        n = len(self.transitions)
        if n == self._obs.shape[0]:
            self._alloc(2 * n)
        both = batch_from_fp([tr.obs, tr.next_obs])
        self._obs[n] = both[0]
        self._nobs[n] = both[1]
        self._act[n] = tr.action
        self._rew[n] = np.float64(tr.reward_fp) / float(SCALE)
        self._done[n] = 1.0 if tr.done else 0.0
        self.transitions.append(tr)

    def extend(self, trs: Iterable[Transition]) -> None:
        for tr in trs:
            self.append(tr)

    def truncate(self, n: int) -> None:
        del self.transitions[n:]

    def gather(self, idx: Sequence[int]) -> tuple[torch.Tensor, ...]:
        ix = np.asarray(idx, dtype=np.intp)
        if ix.size and not 0 <= int(ix.min()) <= int(ix.max()) < len(self.transitions):
            raise IndexError(f"minibatch index out of range for {len(self.transitions)} "
                             "transitions")
        return tuple(torch.from_numpy(a[ix]) for a in (self._obs, self._act, self._rew,
                                                          self._nobs, self._done))


def _as_buffer(history: ReplayBuffer | Sequence[Transition]) -> ReplayBuffer:
    buf = history if isinstance(history, ReplayBuffer) else ReplayBuffer.from_transitions(history)
    if len(buf) == 0:
        raise VerificationError("history is empty")
    return buf

