"""Canonical parameter bytes: network layout, strict blob codec, coin init, distances.

Part of the DQN work split out of ``learnchain.ml.dqn`` (which re-exports every name); the
normative description of the formats is the ``learnchain.ml.dqn`` module docstring.
"""

from __future__ import annotations

import hashlib
import math
import platform
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from learnchain.ml.coins import coin_stream

if TYPE_CHECKING:
    from learnchain.ml.dqn_learner import DQNConfig

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
            torch_version=str(torch.__version__),  # a plain str: TorchVersion compares slowly
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



def _sha(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


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

