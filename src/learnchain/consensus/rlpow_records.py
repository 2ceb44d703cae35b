"""What the rlpow engine derives from blocks: lineage entries, block records, replay
buffers of a branch, and the training manifest (the proof's per-step commitments)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import cbor2

from learnchain.consensus.rlpow_params import FORMAT_VERSION
from learnchain.core.encoding import MAX_ENCODED_SIZE, decode, encode
from learnchain.core.errors import EncodingError, InvalidBlock
from learnchain.ml import dqn, envs
from learnchain.storage.blobstore import cid_of_digest


@dataclass(frozen=True)
class LineageEntry:
    """A learner's committed state on a branch: where its next block must start training."""

    steps: int
    params: bytes
    opt: bytes
    target: bytes
    height: int = 0

    def triple(self) -> list[bytes]:
        return [self.params, self.opt, self.target]


@dataclass(frozen=True)
class BlockRecord:
    """What the engine derived from a connected block (cached by block hash)."""

    state: envs.State
    ret: int
    done: bool
    proposer: bytes
    transition: dqn.Transition | None
    lineage: dict[bytes, LineageEntry]
    seed: bytes  # coin_seed: the randomness of this block's children
    uncle_transitions: tuple[dqn.Transition, ...] = ()  # design=uncles: before `transition`
    start: LineageEntry | None = None  # design=uncles: the merged state this block started at

    def transitions(self) -> tuple[dqn.Transition, ...]:
        """What this block adds to the shared history: its uncles' transitions, then its own."""
        own = (self.transition,) if self.transition is not None else ()
        return (*self.uncle_transitions, *own)


@dataclass
class _BranchBuffer:
    """The transitions of the canonical branch up to some height (all, or one proposer's)."""

    owner: bytes | None
    buf: dqn.ReplayBuffer
    scanned: list[bytes] = field(default_factory=list)
    heights: list[int] = field(default_factory=list)


@dataclass
class _Pending:
    transition: dqn.Transition
    start: LineageEntry
    k: int
    uncles: tuple[dqn.Transition, ...] = ()


@dataclass(frozen=True)
class Manifest:
    """The training proof's commitments (a blob; the header's ``work`` is its hash)."""

    step0: int
    start: tuple[bytes, bytes, bytes]
    steps: tuple[tuple[bytes, bytes, bytes], ...]
    compute: dqn.ComputeSettings

    def to_bytes(self) -> bytes:
        return encode({"v": FORMAT_VERSION, "step0": self.step0, "start": list(self.start),
                       "steps": [list(s) for s in self.steps],
                       "compute": {k: v if isinstance(v, int) else str(v)
                                   for k, v in self.compute.to_record().items()}})

    @classmethod
    def from_bytes(cls, data: bytes, *, canonical: bool = True) -> Manifest:
        """``canonical=False`` skips the canonical-form check and the plain-type walk (a
        re-encode and a full traversal, most of the cost; every field read here is checked by
        exact type anyway): for a fraud check, which needs them only when the accused step
        reproduces."""
        try:
            plain = decode(data) if canonical else _loads(data)
            if not isinstance(plain, dict) or plain.get("v") != FORMAT_VERSION:
                raise ValueError("not a version-1 manifest")
            start = _triple(plain["start"])
            steps = tuple(_triple(s) for s in plain["steps"])
            rec = plain["compute"]
            fields = set(dqn.ComputeSettings.__dataclass_fields__)
            if not isinstance(rec, dict) or set(rec) != fields:
                raise ValueError("compute settings record has the wrong fields")
            for name, value in rec.items():
                if type(value) is not _COMPUTE_TYPES.get(name, str):
                    raise ValueError(f"compute setting {name} has the wrong type")
            compute = dqn.ComputeSettings(**rec)
            step0 = plain["step0"]
            if not isinstance(step0, int) or isinstance(step0, bool) or step0 < 0:
                raise ValueError("step0 must be a non-negative int")
        except (EncodingError, KeyError, TypeError, ValueError) as exc:
            raise InvalidBlock(f"malformed training manifest: {exc}") from None
        return cls(step0, start, steps, compute)

    def final(self) -> tuple[bytes, bytes, bytes]:
        return self.steps[-1] if self.steps else self.start

    def step_commits(self, steps0: int) -> Sequence[dqn.StepCommit]:
        """The steps as commits of global steps ``steps0 ..``, made on access (an audit or a
        fraud check reads one or two of K)."""
        return _Commits(steps0, self.steps)


class _Commits(Sequence[dqn.StepCommit]):
    """A manifest's step commits as a sequence, each made when read."""

    def __init__(self, steps0: int, triples: tuple[tuple[bytes, bytes, bytes], ...]) -> None:
        self._steps0, self._triples = steps0, triples

    def __len__(self) -> int:
        return len(self._triples)

    @overload
    def __getitem__(self, j: int) -> dqn.StepCommit: ...
    @overload
    def __getitem__(self, j: slice) -> Sequence[dqn.StepCommit]: ...
    def __getitem__(self, j: int | slice) -> dqn.StepCommit | Sequence[dqn.StepCommit]:
        if isinstance(j, slice):
            return [self[i] for i in range(*j.indices(len(self)))]
        if j < 0:
            j += len(self._triples)
        return dqn.StepCommit(self._steps0 + j, *self._triples[j])


_COMPUTE_TYPES = {"num_threads": int, "deterministic": bool}  # the other settings are str


def _loads(data: bytes) -> Any:
    """The CBOR value of `data`, neither walked for plain types nor checked for canonical form."""
    if len(data) > MAX_ENCODED_SIZE:
        raise ValueError(f"{len(data)} bytes; the limit is {MAX_ENCODED_SIZE}")
    try:
        return cbor2.loads(data)
    except Exception as exc:  # cbor2 raises several types on malformed input
        raise ValueError(f"malformed CBOR: {exc}") from None


def _triple(value: Any) -> tuple[bytes, bytes, bytes]:
    # unrolled: a K = 64 manifest has 65 of these, and fraud checks decode manifests
    if type(value) is list and len(value) == 3:
        a, b, c = value
        if (type(a) is bytes and type(b) is bytes and type(c) is bytes
                and len(a) == 32 and len(b) == 32 and len(c) == 32):
            return a, b, c
    raise ValueError("a commit is a list of three 32-byte digests")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _short(digest: bytes) -> str:
    return cid_of_digest(digest)[:20] + "…"
