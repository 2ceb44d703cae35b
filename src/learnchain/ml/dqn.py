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

import hashlib
import math
import platform
import struct
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from learnchain.ml.coins import (
    coin_below,
    coin_below_ppb,
    coin_indices,
    coin_int,
    coin_stream,
    derive_seed,
    hash_parts,
)
from learnchain.ml.envs import OracleEnv, State, StepOutcome, make_env
from learnchain.ml.fixedpoint import PPB, SCALE, FpVector, batch_from_fp

PARAMS_MAGIC = b"LCQP"
OPT_MAGIC = b"LCQO"
FORMAT_VERSION = 1
MINIBATCH_LABEL = "dqn/minibatch"
DEFAULT_DISTANCE_THRESHOLD = 1e-4
"""Recommended relative-L2 bound for one replayed step under foreign ComputeSettings.

Calibrated with ``calibrate_threshold`` on a 64x64 CartPole learner (docs/ml-determinism.md):
numerical noise <= 2.1e-7 (params, target, Adam moments), one honest step moves the params
by >= 5.3e-3. 1e-4 is ~500x the noise and ~50x below the smallest honest step.
"""


class VerificationError(Exception):
    """A commitment, proof, or replayed step does not match what was claimed."""


# ---------------------------------------------------------------------------------------------
# Determinism and the compute-settings record
# ---------------------------------------------------------------------------------------------


def configure_determinism() -> None:
    """Pin torch to one thread and deterministic kernels.

    Multi-threaded GEMM may split reductions differently depending on the thread count, so a
    proof is only bit-reproducible under the same count; one thread is the canonical choice.
    """
    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)
    if not torch.are_deterministic_algorithms_enabled():
        torch.use_deterministic_algorithms(True)


@dataclass(frozen=True)
class ComputeSettings:
    """Everything that may change float32 results of the same program on the same inputs."""

    torch_version: str
    numpy_version: str
    cpu_capability: str
    num_threads: int
    deterministic: bool
    machine: str
    dtype: str = "float32"

    @classmethod
    def current(cls) -> ComputeSettings:
        return cls(
            torch_version=torch.__version__,
            numpy_version=np.__version__,
            cpu_capability=str(torch.backends.cpu.get_cpu_capability()),
            num_threads=torch.get_num_threads(),
            deterministic=torch.are_deterministic_algorithms_enabled(),
            machine=platform.machine(),
        )

    def to_record(self) -> dict[str, str | int | bool]:
        return {
            "torch_version": self.torch_version,
            "numpy_version": self.numpy_version,
            "cpu_capability": self.cpu_capability,
            "num_threads": self.num_threads,
            "deterministic": self.deterministic,
            "machine": self.machine,
            "dtype": self.dtype,
        }


# ---------------------------------------------------------------------------------------------
# Network and canonical parameter bytes
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NetSpec:
    """Architecture of an MLP Q-network; recoverable from the canonical bytes alone."""

    obs_dim: int
    n_actions: int
    hidden: tuple[int, ...] = (64, 64)

    def layer_sizes(self) -> list[int]:
        return [self.obs_dim, *self.hidden, self.n_actions]


class QNetwork(nn.Sequential):
    """``obs -> [Linear -> ReLU] * len(hidden) -> Linear -> Q(obs, .)``.

    A plain ``nn.Sequential`` so state-dict keys are ``"<layer>.weight"/"<layer>.bias"``.
    """

    def __init__(self, spec: NetSpec) -> None:
        sizes = spec.layer_sizes()
        layers: list[nn.Module] = []
        for j in range(len(sizes) - 1):
            layers.append(nn.Linear(sizes[j], sizes[j + 1]))
            if j < len(sizes) - 2:
                layers.append(nn.ReLU())
        super().__init__(*layers)
        self.spec = spec


@dataclass(frozen=True)
class _Layout:
    """Sorted tensor names/shapes of a spec and the precomputed canonical headers."""

    spec: NetSpec
    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    numel: int
    params_header: bytes
    opt_entries: tuple[tuple[str, tuple[int, ...]], ...]
    opt_header: bytes
    layers: tuple[tuple[int, tuple[int, int], int, int], ...]  # (w_off, w_shape, b_off, b_len)

    @staticmethod
    def of(spec: NetSpec) -> _Layout:
        return _layout_cache(spec)


_LAYOUTS: dict[NetSpec, _Layout] = {}


def _layout_cache(spec: NetSpec) -> _Layout:
    lay = _LAYOUTS.get(spec)
    if lay is None:
        if len(_LAYOUTS) >= 64:
            _LAYOUTS.clear()
        sizes = spec.layer_sizes()
        entries: list[tuple[str, tuple[int, ...]]] = []
        for j in range(len(sizes) - 1):
            idx = 2 * j
            entries.append((f"{idx}.weight", (sizes[j + 1], sizes[j])))
            entries.append((f"{idx}.bias", (sizes[j + 1],)))
        entries.sort(key=lambda e: e[0])
        numel = sum(math.prod(s) for _, s in entries)
        opt_entries = tuple(sorted([(f"m/{n}", s) for n, s in entries] + [
            (f"v/{n}", s) for n, s in entries
        ]))
        offsets: dict[str, int] = {}
        off = 0
        for name, shape in entries:
            offsets[name] = off
            off += math.prod(shape)
        layers = tuple(
            (offsets[f"{2 * j}.weight"], (sizes[j + 1], sizes[j]), offsets[f"{2 * j}.bias"],
             sizes[j + 1])
            for j in range(len(sizes) - 1)
        )
        lay = _Layout(
            spec=spec,
            layers=layers,
            names=tuple(n for n, _ in entries),
            shapes=tuple(s for _, s in entries),
            numel=numel,
            params_header=_encode_header(PARAMS_MAGIC, 0, entries),
            opt_entries=opt_entries,
            opt_header=_encode_header(OPT_MAGIC, 0, opt_entries),
        )
        _LAYOUTS[spec] = lay
    return lay


def _encode_header(magic: bytes, counter: int, entries: Sequence[tuple[str, tuple[int, ...]]]
                   ) -> bytes:
    out = [magic, struct.pack("<BQI", FORMAT_VERSION, counter, len(entries))]
    for name, shape in entries:
        nb = name.encode("utf-8")
        out.append(struct.pack("<H", len(nb)))
        out.append(nb)
        out.append(struct.pack(f"<B{len(shape)}I", len(shape), *shape))
    return b"".join(out)


_COUNTER_AT = slice(5, 13)  # the u64 counter inside "<magic><BQI>"
_Entries = tuple[tuple[str, tuple[int, ...]], ...]
_HEADERS: dict[tuple[bytes, int], tuple[bytes, int, _Entries]] = {}


def _decode_blob(data: bytes, magic: bytes) -> tuple[int, _Entries, np.ndarray]:
    """Parse a canonical blob strictly: any non-canonical encoding is rejected.

    A header already parsed for a blob of the same magic and length is recognised by byte
    comparison (counter aside) -- the same bytes parse the same way -- which spares a verifier
    the struct walk on every blob it loads.
    """
    known = _HEADERS.get((magic, len(data)))
    if known is not None:
        header, off, entries = known
        if (data[:_COUNTER_AT.start] == header[:_COUNTER_AT.start]
                and data[_COUNTER_AT.stop:off] == header[_COUNTER_AT.stop:]):
            (counter,) = struct.unpack_from("<Q", data, _COUNTER_AT.start)
            return counter, entries, np.frombuffer(data, dtype="<f4", offset=off)
    counter, entries, off = _parse_blob_header(data, magic)
    if len(_HEADERS) >= 64:  # bounded: headers come from untrusted blobs
        _HEADERS.clear()
    _HEADERS[(magic, len(data))] = (bytes(data[:off]), off, entries)
    return counter, entries, np.frombuffer(data, dtype="<f4", offset=off)


def _parse_blob_header(data: bytes, magic: bytes) -> tuple[int, _Entries, int]:
    try:
        if data[:4] != magic:
            raise VerificationError(f"bad magic {data[:4]!r}, expected {magic!r}")
        version, counter, n = struct.unpack_from("<BQI", data, 4)
        if version != FORMAT_VERSION:
            raise VerificationError(f"unsupported blob version {version}")
        off = 4 + struct.calcsize("<BQI")
        entries: list[tuple[str, tuple[int, ...]]] = []
        for _ in range(n):
            (ln,) = struct.unpack_from("<H", data, off)
            off += 2
            name = data[off:off + ln].decode("utf-8")
            off += ln
            (nd,) = struct.unpack_from("<B", data, off)
            shape = struct.unpack_from(f"<{nd}I", data, off + 1)
            off += 1 + 4 * nd
            entries.append((name, tuple(shape)))
    except (struct.error, UnicodeDecodeError) as exc:
        raise VerificationError(f"truncated or malformed blob header: {exc}") from None
    names = [e[0] for e in entries]
    if names != sorted(set(names)):
        raise VerificationError("blob tensor names are not sorted and unique")
    total = sum(math.prod(s) for _, s in entries)
    if len(data) - off != 4 * total:
        raise VerificationError(f"blob data has {len(data) - off} bytes, header needs {4 * total}")
    return counter, tuple(entries), off


_SPECS: dict[tuple[tuple[str, tuple[int, ...]], ...], NetSpec] = {}


def _spec_from_entries(entries: Sequence[tuple[str, tuple[int, ...]]]) -> NetSpec:
    key = tuple(entries)
    spec = _SPECS.get(key)
    if spec is None:
        spec = _parse_spec(entries)
        if len(_SPECS) >= 64:  # bounded: layouts come from untrusted blobs
            _SPECS.clear()
        _SPECS[key] = spec
    return spec


def _parse_spec(entries: Sequence[tuple[str, tuple[int, ...]]]) -> NetSpec:
    shapes = dict(entries)
    try:
        layers = sorted({int(n.split(".")[0]) for n, _ in entries})
    except ValueError:
        raise VerificationError(f"tensor names do not describe a QNetwork: {sorted(shapes)}"
                                ) from None
    if layers != list(range(0, 2 * len(layers), 2)) or not layers:
        raise VerificationError(f"tensor names do not describe a QNetwork: {sorted(shapes)}")
    sizes: list[int] = []
    for li in layers:
        w = shapes.get(f"{li}.weight")
        if w is None or len(w) != 2:
            raise VerificationError(f"missing or malformed {li}.weight")
        if not sizes:
            sizes.append(w[1])
        elif w[1] != sizes[-1]:
            raise VerificationError(f"layer {li} input {w[1]} != previous output {sizes[-1]}")
        sizes.append(w[0])
    spec = NetSpec(obs_dim=sizes[0], n_actions=sizes[-1], hidden=tuple(sizes[1:-1]))
    lay = _Layout.of(spec)
    if list(entries) != list(zip(lay.names, lay.shapes, strict=True)):
        raise VerificationError("tensor set does not match the QNetwork layout")
    return spec


def params_to_bytes(net: nn.Module | Mapping[str, torch.Tensor]) -> bytes:
    """Canonical bytes of a Q-network's parameters (header + LE float32 data, sorted keys)."""
    sd = net.state_dict() if isinstance(net, nn.Module) else dict(net)
    entries = sorted((k, tuple(v.shape)) for k, v in sd.items())
    spec = _spec_from_entries(entries)
    lay = _Layout.of(spec)
    flat = torch.cat([sd[n].detach().to(torch.float32).reshape(-1) for n in lay.names])
    return lay.params_header + flat.numpy().astype("<f4", copy=False).tobytes()


def params_from_bytes(data: bytes) -> dict[str, torch.Tensor]:
    """Parse canonical bytes into a state dict (strict: rejects non-canonical encodings)."""
    counter, entries, flat = _decode_blob(data, PARAMS_MAGIC)
    if counter != 0:
        raise VerificationError("params blob counter must be 0")
    _spec_from_entries(entries)
    out: dict[str, torch.Tensor] = {}
    off = 0
    for name, shape in entries:
        n = math.prod(shape)
        out[name] = torch.from_numpy(flat[off:off + n].astype(np.float32)).reshape(shape)
        off += n
    return out


def spec_from_bytes(data: bytes) -> NetSpec:
    _, entries, _ = _decode_blob(data, PARAMS_MAGIC)
    return _spec_from_entries(entries)


def net_from_bytes(data: bytes) -> QNetwork:
    net = QNetwork(spec_from_bytes(data))
    net.load_state_dict(params_from_bytes(data))
    return net


def params_hash(net: nn.Module | Mapping[str, torch.Tensor] | bytes) -> bytes:
    """SHA-256 of the canonical bytes: the policy commitment and the content id."""
    data = net if isinstance(net, bytes) else params_to_bytes(net)
    return hashlib.sha256(data).digest()


def init_params(spec: NetSpec, seed: bytes) -> bytes:
    """Coin-derived initial parameters (see module docstring); exact on every platform."""
    lay = _Layout.of(spec)
    parts: list[np.ndarray] = []
    fan_in = {f"{2 * j}.{kind}": w_shape[1] for j, (_, w_shape, _, _) in enumerate(lay.layers)
              for kind in ("weight", "bias")}
    for name, shape in zip(lay.names, lay.shapes, strict=True):
        n = math.prod(shape)
        bound = 1.0 / math.sqrt(fan_in[name])
        words = np.frombuffer(coin_stream(seed, f"dqn/init/{name}", 4 * n), dtype=">u4")
        unit = (words.astype(np.float64) + 0.5) / 2.0**32 * 2.0 - 1.0
        parts.append((unit * bound).astype(np.float32))
    return lay.params_header + np.concatenate(parts).astype("<f4").tobytes()


def init_opt_bytes(params_bytes: bytes, hyper: DQNConfig) -> bytes:
    """Fresh optimiser state (Adam: zero moments, step 0; SGD: no tensors)."""
    lay = _Layout.of(spec_from_bytes(params_bytes))
    if hyper.optimizer == "sgd":
        return _encode_header(OPT_MAGIC, 0, [])
    return _encode_header(OPT_MAGIC, 0, lay.opt_entries) + bytes(8 * lay.numel)


def _flat_of(data: bytes) -> tuple[NetSpec, np.ndarray]:
    _, entries, flat = _decode_blob(data, PARAMS_MAGIC)
    return _spec_from_entries(entries), flat


def param_distance(a: bytes, b: bytes) -> float:
    """Relative L2 distance ``||a - b|| / max(||a||, 1e-12)`` (float64) of two param blobs.

    Used instead of hash equality when prover and verifier ``ComputeSettings`` differ.
    """
    sa, fa = _flat_of(a)
    sb, fb = _flat_of(b)
    if sa != sb:
        raise VerificationError(f"parameter layouts differ: {sa} vs {sb}")
    da, db = fa.astype(np.float64), fb.astype(np.float64)
    if not (np.isfinite(da).all() and np.isfinite(db).all()):
        return math.inf
    return float(np.linalg.norm(da - db) / max(float(np.linalg.norm(da)), 1e-12))


def opt_distance(a: bytes, b: bytes) -> float:
    """Relative L2 distance of two optimiser blobs (Adam moments); 0.0 for empty SGD blobs."""
    _, ea, fa = _decode_blob(a, OPT_MAGIC)
    _, eb, fb = _decode_blob(b, OPT_MAGIC)
    if ea != eb:
        raise VerificationError("optimiser layouts differ")
    if fa.size == 0:
        return 0.0
    da, db = fa.astype(np.float64), fb.astype(np.float64)
    if not (np.isfinite(da).all() and np.isfinite(db).all()):
        return math.inf
    return float(np.linalg.norm(da - db) / max(float(np.linalg.norm(da)), 1e-12))


def max_abs_distance(a: bytes, b: bytes) -> float:
    """``max |a - b|`` over all parameters (float64); a coarser companion to param_distance."""
    sa, fa = _flat_of(a)
    sb, fb = _flat_of(b)
    if sa != sb:
        raise VerificationError(f"parameter layouts differ: {sa} vs {sb}")
    return float(np.max(np.abs(fa.astype(np.float64) - fb.astype(np.float64)), initial=0.0))


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
# Transitions and the replay buffer (the chain is the shared replay buffer)
# ---------------------------------------------------------------------------------------------


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


def _sha(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


@dataclass(frozen=True)
class TrainingSettings:
    """The settings record stored with a proof (integers and strings only)."""

    compute: ComputeSettings
    hyper: DQNConfig
    spec: NetSpec
    K: int
    C: int
    step_counter_start: int
    seed: bytes
    history_len: int

    def to_record(self) -> dict[str, object]:
        return {
            "compute": self.compute.to_record(), "hyper": self.hyper.to_record(),
            "spec": {"obs_dim": self.spec.obs_dim, "n_actions": self.spec.n_actions,
                     "hidden": list(self.spec.hidden)},
            "K": self.K, "C": self.C, "step_counter_start": self.step_counter_start,
            "seed": self.seed.hex(), "history_len": self.history_len,
        }


@dataclass
class TrainingProof:
    """Per-step commitments of K DQN steps plus the content store of intermediate blobs.

    ``steps[j]`` commits the state after global step ``step_counter_start + j``; the state
    before it is ``start`` (j = 0) or ``steps[j - 1]``. ``blobs`` maps SHA-256 -> bytes for every
    committed blob (target blobs deduplicate naturally), so any step can be replayed alone.
    """

    settings: TrainingSettings
    start: StepCommit
    steps: list[StepCommit]
    blobs: dict[bytes, bytes] = field(repr=False)

    @property
    def step_hashes(self) -> list[bytes]:
        """Parameter hash after each step (the per-step policy commitments)."""
        return [c.params_hash for c in self.steps]

    def root(self) -> bytes:
        """One hash committing to the whole proof (start, every step, settings-free)."""
        return hash_parts(b"dqn/proof/v1", self.start.digest(), *[c.digest() for c in self.steps])

    def _state_of(self, c: StepCommit) -> LearnerState:
        try:
            return LearnerState(self.blobs[c.params_hash], self.blobs[c.opt_hash],
                                self.blobs[c.target_hash])
        except KeyError as exc:
            raise VerificationError(f"proof misses blob {exc.args[0].hex()[:16]}") from None

    def state_before(self, j: int) -> LearnerState:
        return self._state_of(self.start if j == 0 else self.steps[j - 1])

    def state_after(self, j: int) -> LearnerState:
        return self._state_of(self.steps[j])

    @property
    def final_state(self) -> LearnerState:
        return self._state_of(self.steps[-1] if self.steps else self.start)

    @property
    def final_params(self) -> bytes:
        return self.final_state.params

    @property
    def final_target(self) -> bytes:
        return self.final_state.target

    @property
    def final_opt(self) -> bytes:
        return self.final_state.opt


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


def _forward(x: torch.Tensor, flat: torch.Tensor, lay: _Layout) -> torch.Tensor:
    """The QNetwork forward pass on a flat parameter vector (same ``F.linear`` calls).

    Views into one leaf vector mean ``backward`` writes a flat gradient directly and the
    optimiser updates one tensor: fewer kernel launches than per-module parameters.
    """
    last = len(lay.layers) - 1
    for k, (w_off, (out_f, in_f), b_off, b_len) in enumerate(lay.layers):
        w = flat[w_off:w_off + out_f * in_f].view(out_f, in_f)
        x = F.linear(x, w, flat[b_off:b_off + b_len])
        if k < last:
            x = torch.relu(x)
    return x


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


# ---------------------------------------------------------------------------------------------
# Public work API: train, replay, verify, calibrate
# ---------------------------------------------------------------------------------------------


def train(params_bytes: bytes, target_bytes: bytes,
          history: ReplayBuffer | Sequence[Transition], K: int, C: int,
          step_counter_start: int, seed: bytes, hyper: DQNConfig, *,
          opt_bytes: bytes | None = None, keep_blobs: bool = True) -> TrainingProof:
    """Run K committed DQN steps ``step_counter_start .. step_counter_start + K - 1``.

    ``opt_bytes=None`` means a fresh optimiser (``init_opt_bytes``); pass the previous
    proof's ``final_opt`` to continue Adam. ``keep_blobs=False`` keeps only the start and final
    blobs (for off-chain loops that will never be audited).
    """
    if K < 0 or C < 1 or step_counter_start < 0:
        raise ValueError(f"need K >= 0, C >= 1, step_counter_start >= 0; got {K}, {C}, "
                         f"{step_counter_start}")
    buf = _as_buffer(history)
    opt = init_opt_bytes(params_bytes, hyper) if opt_bytes is None else opt_bytes
    start_state = LearnerState(params_bytes, opt, target_bytes)
    learner = _Learner(start_state, hyper)
    blobs: dict[bytes, bytes] = {}

    def put(b: bytes) -> bytes:
        h = _sha(b)
        blobs[h] = b
        return h

    start = StepCommit(step_counter_start - 1, put(params_bytes), put(opt), put(target_bytes))
    steps: list[StepCommit] = []
    last_target_hash = start.target_hash
    for j in range(K):
        i = step_counter_start + j
        learner.step(buf, i, seed, C)
        pb, ob = learner.params_bytes(), learner.opt_bytes()
        if (i + 1) % C == 0:
            last_target_hash = _sha(pb)  # target is a copy of the new params
        ph = _sha(pb)
        oh = _sha(ob)
        if keep_blobs or j == K - 1:
            blobs[ph], blobs[oh] = pb, ob
            if last_target_hash not in blobs:
                blobs[last_target_hash] = learner.target_bytes()
        steps.append(StepCommit(i, ph, oh, last_target_hash))
    settings = TrainingSettings(ComputeSettings.current(), hyper, learner.lay.spec, K, C,
                                step_counter_start, seed, len(buf))
    return TrainingProof(settings, start, steps, blobs)


def replay_step(params_bytes: bytes, target_bytes: bytes,
                history: ReplayBuffer | Sequence[Transition], i: int, seed: bytes,
                hyper: DQNConfig, *, C: int, opt_bytes: bytes | None = None) -> LearnerState:
    """Re-execute global step ``i`` alone from the state before it; returns the state after.

    ``LearnerState.params`` is the ``params_bytes_after`` to compare with commit ``i``.
    """
    buf = _as_buffer(history)
    opt = init_opt_bytes(params_bytes, hyper) if opt_bytes is None else opt_bytes
    learner = _scratch_learner(LearnerState(params_bytes, opt, target_bytes), hyper)
    learner.step(buf, i, seed, C)
    return learner.state()


_SCRATCH = threading.local()


def _scratch_learner(state: LearnerState, hyper: DQNConfig) -> _Learner:
    """This thread's reusable learner, loaded with ``state``.

    A verifier replays one step per block; reloading the same tensors instead of allocating
    new ones keeps their memory warm, which is most of a lone step's cost. Results cannot
    differ: ``load`` overwrites every value a step reads (params, target, moments, t).
    """
    spec = spec_from_bytes(state.params)
    learners: dict[tuple[NetSpec, DQNConfig], _Learner] = _SCRATCH.__dict__.setdefault(
        "learners", {})
    learner = learners.get((spec, hyper))
    if learner is None:
        if len(learners) >= 8:
            learners.clear()
        learner = learners[(spec, hyper)] = _Learner(state, hyper)
    else:
        learner.load(state)
    return learner


def steps_to_check(check_seed: bytes, K: int, s: int) -> list[int]:
    """Which local step indices a verifier audits: ``s`` distinct coin-chosen steps."""
    chosen: list[int] = []
    ctr = 0
    while len(chosen) < min(s, K):
        j = coin_below(check_seed, "dqn/audit", ctr, K)
        ctr += 1
        if j not in chosen:
            chosen.append(j)
    return sorted(chosen)


def verify_step(proof: TrainingProof, j: int, history: ReplayBuffer | Sequence[Transition],
                hyper: DQNConfig, *, threshold: float | None = None) -> float:
    """Replay local step ``j`` of ``proof`` and check it against commit ``j``.

    Exact hash match when the proof's ``ComputeSettings`` equal ours (returns 0.0); otherwise
    relative-L2 distance ``<= threshold`` for params, target and optimiser state (returns the
    distance). Raises ``VerificationError`` naming the mismatch. Trusts ``proof.settings``
    (seed, C, step counter): ``verify_proof`` checks those against consensus first.
    """
    st = proof.settings
    before = proof.state_before(j)
    claimed = proof.steps[j]
    i = st.step_counter_start + j
    if claimed.step != i:
        raise VerificationError(f"commit {j} names step {claimed.step}, expected {i}")
    after = replay_step(before.params, before.target, history, i, st.seed, hyper, C=st.C,
                        opt_bytes=before.opt)
    if after.commit(i) == claimed:
        return 0.0
    if st.compute == ComputeSettings.current() or threshold is None:
        which = [name for name, a, b in (
            ("params", _sha(after.params), claimed.params_hash),
            ("optimiser state", _sha(after.opt), claimed.opt_hash),
            ("target", _sha(after.target), claimed.target_hash)) if a != b]
        raise VerificationError(f"step {i}: replayed {', '.join(which)} hash differs from proof")
    claimed_after = proof.state_after(j)
    d = max(param_distance(after.params, claimed_after.params),
            param_distance(after.target, claimed_after.target),
            opt_distance(after.opt, claimed_after.opt))
    if not d <= threshold:
        raise VerificationError(f"step {i}: distance {d:.3e} exceeds threshold {threshold:.3e}")
    return d


def verify_proof(proof: TrainingProof, before: LearnerState,
                 history: ReplayBuffer | Sequence[Transition], hyper: DQNConfig, *,
                 K: int, C: int, seed: bytes, step_counter_start: int,
                 check_seed: bytes, n_checks: int, threshold: float | None = None) -> list[int]:
    """Cheap audit of a training proof against what consensus expects.

    Checks, in order: the settings the prover claims (``K, C, seed, step_counter_start``,
    ``hyper``, history length) equal the consensus values passed here -- a prover must not
    pick its own minibatch seed; the start commit matches ``before`` (the state committed
    on chain); every blob hashes to its content id; then ``n_checks`` coin-chosen steps replay
    (``verify_step``). Returns the audited local step indices. A proof with ``b`` wrong steps
    out of ``K`` survives ``s`` audits with probability about ``(1 - b/K)**s``. The engine
    still compares ``proof.steps[-1].params_hash`` with the policy hash in the block.
    """
    st = proof.settings
    expected = {"K": K, "C": C, "seed": seed, "step_counter_start": step_counter_start,
                "hyper": hyper}
    for name, want in expected.items():
        if getattr(st, name) != want:
            raise VerificationError(f"proof setting {name}={getattr(st, name)!r}, "
                                    f"consensus requires {want!r}")
    if len(proof.steps) != K:
        raise VerificationError(f"proof has {len(proof.steps)} steps, expected K={K}")
    if proof.start != before.commit(step_counter_start - 1):
        raise VerificationError("proof start does not match the committed pre-training state")
    for h, b in proof.blobs.items():
        if _sha(b) != h:
            raise VerificationError(f"blob {h.hex()[:16]} does not hash to its content id")
    buf = _as_buffer(history)
    if len(buf) != st.history_len:
        raise VerificationError(
            f"history has {len(buf)} transitions, proof trained on {st.history_len}")
    chosen = steps_to_check(check_seed, K, n_checks)
    for j in chosen:
        verify_step(proof, j, buf, hyper, threshold=threshold)
    return chosen


@dataclass(frozen=True)
class ThresholdCalibration:
    """Empirical distances: numerical noise vs. the size of one honest step."""

    perturbation_distances: list[float]
    thread_distances: list[float]
    float64_distances: list[float]
    honest_step_distances: list[float]
    safety: float
    threshold: float


def _ulp_perturb(params_bytes: bytes, seed: bytes, ctr: int) -> bytes:
    """Move every parameter 1 ulp up or down (coin-chosen direction)."""
    spec, flat = _flat_of(params_bytes)
    flat = flat.astype(np.float32)
    bits = np.frombuffer(coin_stream(seed, f"dqn/calib/{ctr}", flat.size), dtype=np.uint8)
    direction = np.where(bits & 1, np.float32(np.inf), np.float32(-np.inf))
    pert = np.nextafter(flat, direction).astype("<f4")
    return _Layout.of(spec).params_header + pert.tobytes()


def _state_distance(a: LearnerState, b: LearnerState) -> float:
    """The distance ``verify_step`` bounds: max over params, target and optimiser state."""
    return max(param_distance(a.params, b.params), param_distance(a.target, b.target),
               opt_distance(a.opt, b.opt))


def calibrate_threshold(state: LearnerState, history: ReplayBuffer | Sequence[Transition],
                        hyper: DQNConfig, *, C: int, seed: bytes, steps: Sequence[int],
                        safety: float = 100.0) -> ThresholdCalibration:
    """Measure how far one replayed step moves under numerically-irrelevant changes.

    For each global step ``i``, compare the honest float32 replay with: a replay from a 1-ulp
    perturbed copy of the params; a replay with 2 torch threads; and a float64 reference
    replay rounded to float32 (any float32 summation order -- another CPU's GEMM kernels --
    lies within about this distance of the exact result). ``threshold = safety * max(noise)``;
    the honest step sizes show how far below a real (or skipped) update the threshold sits.
    """
    buf = _as_buffer(history)
    pert, thr, f64, honest = [], [], [], []
    for k, i in enumerate(steps):
        a = replay_step(state.params, state.target, buf, i, seed, hyper, C=C, opt_bytes=state.opt)
        p = _ulp_perturb(state.params, seed, k)
        b = replay_step(p, state.target, buf, i, seed, hyper, C=C, opt_bytes=state.opt)
        pert.append(_state_distance(a, b))
        honest.append(param_distance(state.params, a.params))
        learner = _Learner(state, hyper)
        torch.set_num_threads(2)  # _Learner pins one thread; open two for this replay only
        try:
            learner.step(buf, i, seed, C)
        finally:
            torch.set_num_threads(1)
        thr.append(_state_distance(a, learner.state()))
        ref = _Learner(state, hyper, dtype=torch.float64)
        ref.step(buf, i, seed, C)
        f64.append(_state_distance(a, ref.state()))
    noise = max([*pert, *thr, *f64, 0.0])
    return ThresholdCalibration(pert, thr, f64, honest, safety, max(safety * noise, 1e-7))


# ---------------------------------------------------------------------------------------------
# Off-chain evaluation and the single-node learning loop
# ---------------------------------------------------------------------------------------------


def evaluate_greedy(params_bytes: bytes, env_name: str, episodes: int, seed: bytes) -> float:
    """Mean undiscounted return of the greedy policy over ``episodes`` oracle episodes.

    Off-chain: episodes run in lock-step so one batched forward pass serves all of them.
    Episode ``e`` resets from ``derive_seed(seed, e)``; its step ``t`` uses
    ``derive_seed(hash_parts(seed, e), t)`` (only stochastic envs read it).
    """
    configure_determinism()
    spec, flat_np = _flat_of(params_bytes)
    flat, lay = torch.from_numpy(flat_np.copy()), _Layout.of(spec)
    envs = [make_env(env_name) for _ in range(episodes)]
    states: list[State | None] = [envs[e].reset(derive_seed(seed, e)) for e in range(episodes)]
    ep_seeds = [hash_parts(seed, struct.pack("<Q", e)) for e in range(episodes)]
    returns = [0] * episodes
    t = 0
    while True:
        live = [e for e in range(episodes) if states[e] is not None]
        if not live:
            break
        x = torch.from_numpy(batch_from_fp([envs[e].observe(states[e]) for e in live]))
        with torch.no_grad():
            q = _forward(x, flat, lay).tolist()
        for e, qe in zip(live, q, strict=True):
            out = envs[e].step(states[e], greedy_action(qe), derive_seed(ep_seeds[e], t))
            returns[e] += out.reward_fp
            states[e] = None if out.done else out.next_state
        t += 1
    return sum(returns) / SCALE / max(episodes, 1)


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
