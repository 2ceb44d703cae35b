"""The DQN learner: action rule, exploration schedule, protocol config, one committed step.

Split out of ``learnchain.ml.dqn`` (which re-exports every name). The learner keeps flat
float32 buffers with the network's parameters as views; bytes are its interface.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch.nn import functional as F

from learnchain.ml.coins import coin_below, coin_below_ppb, coin_indices, hash_parts
from learnchain.ml.dqn_params import (
    FORMAT_VERSION,
    MINIBATCH_LABEL,
    OPT_MAGIC,
    QNetwork,
    VerificationError,
    _decode_blob,
    _encode_header,
    _flat_of,
    _forward,
    _Layout,
    _sha,
    configure_determinism,
    spec_from_bytes,
)
from learnchain.ml.fixedpoint import PPB, batch_from_fp
from learnchain.ml.replay import ReplayBuffer

# ---------------------------------------------------------------------------------------------
# Action selection and exploration schedule
# ---------------------------------------------------------------------------------------------


def q_values(net: QNetwork | bytes, obs_fp: Sequence[int]) -> list[float]:
    """Q(S, .) in float32 (returned as Python floats) for a fixed-point observation."""
    configure_determinism()
    x = torch.from_numpy(batch_from_fp([tuple(obs_fp)]))
    with torch.no_grad():
        if isinstance(net, bytes):
            spec, flat = _flat_of(net)
            out = _forward(x, torch.from_numpy(flat.copy()), _Layout.of(spec))
        else:
            out = net(x)
    return [float(q) for q in out[0]]


def greedy_action(q: Sequence[float]) -> int:
    """argmax with ties broken towards the lowest index (NaN never wins a comparison)."""
    best = 0
    for a in range(1, len(q)):
        if q[a] > q[best]:
            best = a
    return best


def select_action(net: QNetwork | bytes, obs_fp: Sequence[int], eps_ppb: int, coin: int
                  ) -> tuple[int, bool]:
    """epsilon-greedy action from an exploration coin, recomputable by every verifier.

    Explore iff ``coin / 2**256 < eps_ppb / 10**9`` (exact integer comparison). The random
    action is ``coin_below(coin_bytes, "dqn/action", 0, n_actions)``: a separate coin derived
    from the exploration coin itself, so one on-chain coin fixes both decisions and the action
    is independent of the explore test. Otherwise ``argmax_a Q(S, a; theta)``, lowest index on
    ties.
    """
    n_actions = spec_from_bytes(net).n_actions if isinstance(net, bytes) else net.spec.n_actions
    if coin_below_ppb(coin, eps_ppb):
        return coin_below(coin.to_bytes(32, "big"), "dqn/action", 0, n_actions), True
    return greedy_action(q_values(net, obs_fp)), False


@dataclass(frozen=True)
class EpsilonSchedule:
    """Linear decay in integers: ``eps(h) = start - (start - end) * min(h, decay) // decay``.

    ``h`` is the block height (env steps so far); the defaults are the tuned CartPole values.
    """

    start_ppb: int = PPB
    end_ppb: int = 50_000_000
    decay_steps: int = 2_500  # tuned: single-learner CartPole solves in ~2k blocks

    def eps_ppb(self, height: int) -> int:
        if self.decay_steps <= 0:
            return self.end_ppb
        h = min(max(height, 0), self.decay_steps)
        return self.start_ppb - (self.start_ppb - self.end_ppb) * h // self.decay_steps


# ---------------------------------------------------------------------------------------------
# DQN configuration, learner state, commitments
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DQNConfig:
    """Protocol hyperparameters; rates are integers in parts per 10**9 (no floats on chain)."""

    hidden: tuple[int, ...] = (64, 64)
    batch_size: int = 64
    gamma_ppb: int = 990_000_000
    lr_ppb: int = 1_000_000
    optimizer: Literal["adam", "sgd"] = "adam"
    adam_beta1_ppb: int = 900_000_000
    adam_beta2_ppb: int = 999_000_000
    adam_eps_ppb: int = 10
    loss: Literal["huber", "mse"] = "huber"
    double_dqn: bool = False
    max_grad_norm_ppb: int = 10 * PPB

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(self.hidden))  # hashable, comparable

    @property
    def gamma(self) -> float:
        return self.gamma_ppb / PPB

    @property
    def lr(self) -> float:
        return self.lr_ppb / PPB

    def to_record(self) -> dict[str, int | str | bool | list[int]]:
        return {
            "hidden": list(self.hidden), "batch_size": self.batch_size,
            "gamma_ppb": self.gamma_ppb, "lr_ppb": self.lr_ppb, "optimizer": self.optimizer,
            "adam_beta1_ppb": self.adam_beta1_ppb, "adam_beta2_ppb": self.adam_beta2_ppb,
            "adam_eps_ppb": self.adam_eps_ppb, "loss": self.loss,
            "double_dqn": self.double_dqn, "max_grad_norm_ppb": self.max_grad_norm_ppb,
        }


@dataclass(frozen=True)
class StepCommit:
    """Hashes of the learner state *after* global step ``step`` (``step = -1``: the start)."""

    step: int
    params_hash: bytes
    opt_hash: bytes
    target_hash: bytes

    def digest(self) -> bytes:
        return hash_parts(b"dqn/step/v1", struct.pack("<q", self.step), self.params_hash,
                          self.opt_hash, self.target_hash)


@dataclass(frozen=True)
class LearnerState:
    """Everything a DQN step reads: online params, optimiser state, target params (bytes)."""

    params: bytes
    opt: bytes
    target: bytes

    def commit(self, step: int) -> StepCommit:
        return StepCommit(step, _sha(self.params), _sha(self.opt), _sha(self.target))



# ---------------------------------------------------------------------------------------------
# The learner: flat float32 buffers with module parameters as views
# ---------------------------------------------------------------------------------------------


def _ipow(b: float, t: int) -> float:
    """``b**t`` by squaring: only IEEE multiplications, identical on every platform."""
    result, base = 1.0, b
    while t:
        if t & 1:
            result *= base
        base *= base
        t >>= 1
    return result


class _Learner:
    """Live DQN state. Exists only inside ``train``/``replay_step``; bytes are the interface."""

    def __init__(self, state: LearnerState, hyper: DQNConfig,
                 dtype: torch.dtype = torch.float32) -> None:
        """``dtype=float64`` is only for threshold calibration (a reference computation)."""
        configure_determinism()
        spec = spec_from_bytes(state.params)
        self.hyper = hyper
        self.lay = _Layout.of(spec)
        n = self.lay.numel
        self.dtype = dtype
        self.theta = torch.empty(n, dtype=dtype, requires_grad=True)
        self.theta_t = torch.empty(n, dtype=dtype)
        self.mv = torch.zeros(2 * n, dtype=dtype)  # Adam m ++ v (canonical order)
        self.m, self.v = self.mv[:n], self.mv[n:]
        self._opt_tail = self.lay.opt_header[4 + 13:]
        self.t = 0
        self.load(state)

    @torch.no_grad()
    def load(self, state: LearnerState) -> None:
        """Overwrite the live state with ``state`` (same network layout) after checking it."""
        spec, params = _flat_of(state.params)
        if spec.hidden != tuple(self.hyper.hidden):
            raise VerificationError(f"params hidden {spec.hidden} != config {self.hyper.hidden}")
        if spec != self.lay.spec:
            raise VerificationError(f"params layout {spec} != this learner's {self.lay.spec}")
        target_spec, target = _flat_of(state.target)
        if target_spec != spec:
            raise VerificationError("target network layout differs from online network")
        t, entries, flat = _decode_blob(state.opt, OPT_MAGIC)
        if self.hyper.optimizer == "adam":
            if tuple(entries) != self.lay.opt_entries:
                raise VerificationError("optimiser blob does not hold Adam moments for this net")
            self.mv.copy_(torch.from_numpy(flat.copy()))
        elif entries:
            raise VerificationError("SGD optimiser blob must hold no tensors")
        self.theta.copy_(torch.from_numpy(params.copy()))
        self.theta_t.copy_(torch.from_numpy(target.copy()))
        self.theta.grad = None
        self.t = t

    def params_bytes(self) -> bytes:
        return b"".join((self.lay.params_header, memoryview(self._f32(self.theta.detach()))))

    def target_bytes(self) -> bytes:
        return b"".join((self.lay.params_header, memoryview(self._f32(self.theta_t))))

    def opt_bytes(self) -> bytes:
        if self.hyper.optimizer == "sgd":
            return _encode_header(OPT_MAGIC, self.t, [])
        head = OPT_MAGIC + struct.pack("<BQI", FORMAT_VERSION, self.t, len(self.lay.opt_entries))
        return b"".join((head, self._opt_tail, memoryview(self._f32(self.mv))))

    def _f32(self, x: torch.Tensor) -> np.ndarray:
        return x.numpy() if self.dtype == torch.float32 else x.to(torch.float32).numpy()

    def state(self) -> LearnerState:
        return LearnerState(self.params_bytes(), self.opt_bytes(), self.target_bytes())

    def step(self, buf: ReplayBuffer, i: int, seed: bytes, C: int) -> None:
        """One global DQN step ``i``: coin minibatch, TD loss, optimiser update, target sync."""
        hp, lay, theta = self.hyper, self.lay, self.theta
        idx = coin_indices(seed, MINIBATCH_LABEL, i, len(buf), hp.batch_size)
        obs, act, rew, nobs, done = buf.gather(idx)
        if self.dtype != torch.float32:
            obs, rew, nobs, done = (x.to(self.dtype) for x in (obs, rew, nobs, done))
        with torch.no_grad():
            q_next_all = _forward(nobs, self.theta_t, lay)
            if hp.double_dqn:
                a_star = _forward(nobs, theta, lay).argmax(dim=1, keepdim=True)
                q_next = q_next_all.gather(1, a_star).squeeze(1)
            else:
                q_next = q_next_all.max(dim=1).values
            y = rew + hp.gamma * q_next * (1.0 - done)
        q = _forward(obs, theta, lay).gather(1, act.unsqueeze(1)).squeeze(1)
        loss = F.smooth_l1_loss(q, y) if hp.loss == "huber" else F.mse_loss(q, y)
        theta.grad = None
        loss.backward()
        g = theta.grad
        assert g is not None
        with torch.no_grad():
            if hp.max_grad_norm_ppb > 0:
                max_norm = hp.max_grad_norm_ppb / PPB
                coef = max_norm / (float(torch.linalg.vector_norm(g)) + 1e-6)
                if coef < 1.0:
                    g.mul_(coef)
            self.t += 1
            if hp.optimizer == "adam":
                b1, b2 = hp.adam_beta1_ppb / PPB, hp.adam_beta2_ppb / PPB
                self.m.mul_(b1).add_(g, alpha=1.0 - b1)
                self.v.mul_(b2).addcmul_(g, g, value=1.0 - b2)
                bc1 = 1.0 - _ipow(b1, self.t)
                bc2 = 1.0 - _ipow(b2, self.t)
                denom = (self.v.sqrt() / math.sqrt(bc2)).add_(hp.adam_eps_ppb / PPB)
                theta.addcdiv_(self.m, denom, value=-hp.lr / bc1)
            else:
                theta.add_(g, alpha=-hp.lr)
            if (i + 1) % C == 0:
                self.theta_t.copy_(theta)


