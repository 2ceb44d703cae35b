"""rlpow fraud proofs: one bad training step, shown to every node, checked by replaying it.

Audits are random and node-local (each verifier replays ``s`` of ``K`` steps), so a block with
one bad step is caught only by the verifiers that happened to pick it. The one that catches it
publishes a `FraudProof`:

* the block's header and the proposer's signature over it (who is accountable),
* the training manifest (its SHA-256 is the header's ``work``: every step's commitment),
* the index ``j`` of the bad step: its inputs are commitment ``j`` (θ, Adam state, θ⁻ by
  hash) and the disagreeing commitment is ``j + 1``,
* optionally the blobs of those inputs, so a checker needs nothing from the accused,
* design=uncles: the block's uncles (signed headers, each hashing to a digest the header lists)
  and, when they fit, the uncles' θ_after blobs the merged start is the mean of.

Under the ``uncles`` design the step replays on the history the block trained on: the
canonical history up to the parent, then the uncles' transitions (replayed from the
grandparent by ``load_uncles``), then the block's own; the start is the merged shared state
(``merged_start``), checked against the manifest when its blobs are here or in the proof.

Any node holding the block's parent on its canonical chain checks it by replaying that one
step (`check_fraud_proof`), the same replay an audit does. If the step does not reproduce,
the block is invalid for every node: the chain rolls back below it and refuses it
(`Chain.invalidate`), and its proposer is convicted: banned as a miner (every block it signs
is refused by `RLPowEngine.check_governed`). If the step does reproduce, the proof is false and
the caller penalises whoever sent it. A node that cannot check (parent unknown or on a side
branch, blobs missing) says so and nobody is punished.

Penalty, stated: the ban is node-local but objective: every honest node that sees the proof
reaches the same verdict, and the peer layer gossips it, so the convicted key loses the
miner role network-wide within a gossip round. rlpow has no stake to slash; governance can
also revoke the key's ``miner`` role on chain with the proof as public evidence.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from learnchain.core.crypto import recover_address
from learnchain.core.encoding import decode, encode
from learnchain.core.errors import (
    DataUnavailable,
    EncodingError,
    InvalidBlock,
    InvalidTransaction,
    LearnchainError,
)
from learnchain.core.types import Block, BlockHeader
from learnchain.ml import dqn, envs

if TYPE_CHECKING:
    from learnchain.consensus.rlpow import Manifest, RLPowEngine

PROOF_VERSION = 1
MAX_PROOF_BYTES = 512 * 1024
PROOF_KEYS = {"v", "header", "signature", "manifest", "step", "blobs", "uncles"}
MAX_PROOF_UNCLES = 64
MERGE_BLOB_BUDGET = MAX_PROOF_BYTES - 64 * 1024
"""Merge inputs ride along only while the whole proof stays this far under the limit."""


class FraudProofError(LearnchainError):
    """A fraud proof that does not check: malformed, unsigned, or the step reproduces."""


class Unverifiable(LearnchainError):
    """This node cannot check the proof (parent or blobs missing): not a verdict either way."""


@dataclass(frozen=True)
class FraudProof:
    header: BlockHeader
    signature: bytes
    manifest: bytes
    step: int
    blobs: dict[bytes, bytes] = field(default_factory=dict, repr=False)
    uncles: dict[bytes, bytes] = field(default_factory=dict, repr=False)
    """design=uncles: uncle blobs (``uncle_blob``) by digest; each must be listed in the header."""

    @property
    def block_hash(self) -> bytes:
        return self.header.hash

    @classmethod
    def for_step(cls, block: Block, manifest: Manifest, j: int, blobs: dict[bytes, bytes],
                 uncles: dict[bytes, bytes] | None = None,
                 merge_inputs: dict[bytes, bytes] | None = None) -> FraudProof:
        """The proof of an audit that failed at local step `j` (`blobs`: what it read);
        design=uncles: the block's `uncles` blobs and, while they fit, `merge_inputs`."""
        commits = [manifest.start, *manifest.steps]
        inputs = {d: blobs[d] for d in commits[j] if d in blobs}
        bare = cls(block.header, block.signature, manifest.to_bytes(), j, inputs,
                   dict(uncles or {}))
        size, extra = len(bare.to_bytes()), {}
        for digest, blob in (merge_inputs or {}).items():
            if digest not in inputs and size + len(blob) + 48 <= MERGE_BLOB_BUDGET:
                extra[digest] = blob
                size += len(blob) + 48  # the blob, its digest and the encoding's framing
        return replace(bare, blobs={**inputs, **extra}) if extra else bare

    def to_bytes(self) -> bytes:
        plain: dict[str, Any] = {
            "v": PROOF_VERSION, "header": self.header.to_plain(), "signature": self.signature,
            "manifest": self.manifest, "step": self.step,
            "blobs": [[d, b] for d, b in self.blobs.items()]}
        if self.uncles:  # lineage proofs keep their exact encoding
            plain["uncles"] = list(self.uncles.values())
        return encode(plain)

    @classmethod
    def from_bytes(cls, data: bytes) -> FraudProof:
        if len(data) > MAX_PROOF_BYTES:
            raise FraudProofError(f"fraud proof is {len(data)} bytes; the limit is "
                                  f"{MAX_PROOF_BYTES}")
        try:
            plain = decode(data, max_size=MAX_PROOF_BYTES)
            if not isinstance(plain, dict) or plain.get("v") != PROOF_VERSION:
                raise ValueError("not a version-1 fraud proof")
            if not set(plain) <= PROOF_KEYS:
                raise ValueError(f"unknown field(s) {sorted(set(plain) - PROOF_KEYS)}")
            header = BlockHeader.from_plain(plain["header"])
            signature, manifest, step = plain["signature"], plain["manifest"], plain["step"]
            pairs = plain.get("blobs", [])
            if not isinstance(signature, bytes) or not isinstance(manifest, bytes):
                raise ValueError("signature and manifest are bytes")
            if not isinstance(step, int) or isinstance(step, bool) or step < 0:
                raise ValueError("step is a non-negative int")
            if not isinstance(pairs, list) or not all(
                    isinstance(p, list) and len(p) == 2 and isinstance(p[0], bytes)
                    and isinstance(p[1], bytes) for p in pairs):
                raise ValueError("blobs are [digest, bytes] pairs")
            blobs = {p[0]: p[1] for p in pairs}
            for digest, blob in blobs.items():
                if hashlib.sha256(blob).digest() != digest:
                    raise ValueError(f"blob {digest.hex()[:16]} does not hash to its digest")
            listed = plain.get("uncles", [])
            if (not isinstance(listed, list) or len(listed) > MAX_PROOF_UNCLES
                    or not all(isinstance(b, bytes) for b in listed)):
                raise ValueError(f"uncles are at most {MAX_PROOF_UNCLES} byte strings")
            uncles = {hashlib.sha256(b).digest(): b for b in listed}
            if len(uncles) != len(listed):
                raise ValueError("an uncle is listed twice")
        except (EncodingError, KeyError, TypeError, ValueError) as exc:
            raise FraudProofError(f"malformed fraud proof: {exc}") from None
        return cls(header, signature, manifest, step, blobs, uncles)


@dataclass(frozen=True)
class History:
    """What the accused block trained on, besides the canonical history up to its parent."""

    steps: int  # the learner's step counter at the start
    start: tuple[bytes, bytes, bytes] | None  # the start it must commit to (None: unchecked)
    appended: tuple[dqn.Transition, ...]  # design=uncles: its uncles', then its own


def block_history(engine: RLPowEngine, header: BlockHeader, parent: BlockHeader,
                  outcome: envs.StepOutcome | None = None,
                  uncle_blobs: dict[bytes, bytes] | None = None,
                  blobs: dict[bytes, bytes] | None = None) -> History:
    """The start and the appended transitions of `header` on the canonical history up to
    `parent` (under the chain lock), as verification derives them: the lineage design's
    proposer start and own transition, or (design=uncles) the merged start and the uncles'
    transitions, from the engine's own `load_uncles` / `merged_start`. Raises `InvalidBlock`
    when the block is invalid on the way and `DataUnavailable` when an uncle is missing."""
    parent_rec = engine.record(parent.hash)
    known = engine._records.get(header.hash)
    if known is not None and known.transition is not None and (
            known.start is not None or not engine.shares_learner):
        # a node that adopted the block has replayed its transition (and uncles) already
        start = known.start or engine.validate_lineage(header, parent_rec)
        return History(start.steps, tuple(start.triple()), known.transitions())  # type: ignore[arg-type]
    if outcome is None:
        outcome = engine.validate_transition(header, parent_rec)
    own = dqn.Transition.from_outcome(engine.env, parent_rec.state, header.engine_fields["a"],
                                      outcome)
    if not engine.shares_learner:
        start = engine.validate_lineage(header, parent_rec)
        return History(start.steps, tuple(start.triple()), (own,))  # type: ignore[arg-type]
    if parent.height == 0 and header.engine_fields.get("uncles"):
        raise InvalidBlock("uncle rejected: a child of genesis has no uncles")
    uncles = engine.load_uncles(header, uncle_blobs)
    seen = {parent.proposer}
    for info in uncles:
        engine._check_relation(info.header, parent, seen)
    appended = (*[u.transition for u in uncles], own)
    try:
        merged = engine.merged_start(parent_rec, [u.after for u in uncles], blobs)
    except DataUnavailable:  # the step replay needs no merged value, only the step counter
        return History(engine.shared_base(parent_rec).steps, None, appended)
    start = engine.validate_lineage(header, parent_rec, merged)
    return History(start.steps, tuple(start.triple()), appended)  # type: ignore[arg-type]


def claimed_history(engine: RLPowEngine, header: BlockHeader, parent: BlockHeader
                    ) -> History | None:
    """The lineage design's history of `header` with its own transition taken from what the
    header claims (S_t+1, R, done) instead of from the oracle; None where that is not the
    transition (design=uncles, or a step that ended its episode: the stored transition then
    ends in the state reached, which the header does not carry).

    A fraud check may replay on this and consult the oracle only if the step reproduces: when
    the claim is the oracle's, the two histories are the same; when it is not, the block is
    invalid whatever the replay says. Raises `InvalidBlock` for a broken lineage."""
    f = header.engine_fields
    if engine.shares_learner or f["done"]:
        return None
    parent_rec = engine.record(parent.hash)
    env = engine.env
    own = dqn.Transition(env.observe(parent_rec.state), f["a"], f["r"], env.observe(tuple(f["s"])),
                         False)
    start = engine.validate_lineage(header, parent_rec)
    return History(start.steps, tuple(start.triple()), (own,))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Verdict:
    block_hash: bytes
    proposer: bytes
    reason: str
    new: bool
    undone: int = 0


def check_fraud_proof(engine: RLPowEngine, proof: FraudProof) -> str:
    """Replay the accused step; return why the block is invalid.

    Raises `FraudProofError` when the proof is false (the sender is to be penalised) and
    `Unverifiable` when this node lacks the parent chain or the step's input blobs.
    """
    from learnchain.consensus.rlpow import Manifest

    header = proof.header
    chain = engine.chain
    if header.chain_id != chain.genesis_config.chain_id or header.engine != engine.name:
        raise FraudProofError("fraud proof names a block of another chain or engine")
    try:
        signer = recover_address(header.hash, proof.signature)
    except InvalidTransaction as exc:
        raise FraudProofError(f"fraud proof: block signature: {exc}") from None
    if signer != header.proposer:
        raise FraudProofError("fraud proof: the block is not signed by its proposer")
    try:
        engine.check_header(header)
    except InvalidBlock as exc:
        raise FraudProofError(f"fraud proof: the accused header is malformed ({exc}); no "
                              "node accepts it, so there is nothing to prove") from None
    f = header.engine_fields
    if hashlib.sha256(proof.manifest).digest() != f["work"]:
        raise FraudProofError("fraud proof: the manifest is not the block's (hash ≠ work)")
    try:
        manifest = Manifest.from_bytes(proof.manifest, canonical=False)
    except InvalidBlock as exc:
        return f"{exc}"  # the proposer signed a block committing to a malformed manifest
    try:
        return _judge_step(engine, proof, manifest)
    except (FraudProofError, Unverifiable):
        # The byte form is checked only now (the re-encode is most of a decode): a step that
        # does not reproduce condemns the block whatever the encoding.
        try:
            Manifest.from_bytes(proof.manifest)
        except InvalidBlock as exc:
            return f"{exc}"  # the block commits to a manifest that is not canonical
        raise


def _judge_step(engine: RLPowEngine, proof: FraudProof, manifest: Manifest) -> str:
    header, chain, f = proof.header, engine.chain, proof.header.engine_fields
    if not 0 <= proof.step < len(manifest.steps):
        raise FraudProofError(f"fraud proof: step {proof.step} is not among the block's "
                              f"{len(manifest.steps)} steps")
    head = chain.head
    if head.hash == header.parent:  # the usual case: fraud in the newest block
        parent: BlockHeader | None = head
    else:
        parent = chain.get_header(header.parent)
        if parent is not None and chain.store.canonical_hash(parent.height) != parent.hash:
            parent = None
    if parent is None:
        raise Unverifiable("the accused block's parent is not on this node's canonical chain")
    listed = set(f.get("uncles") or []) if engine.shares_learner else set()
    if any(d not in listed for d in proof.uncles):
        raise FraudProofError("fraud proof: it carries an uncle the accused header does not "
                              "list (hash ≠ any of its uncle digests)")
    with chain.lock:
        cp = chain._params_for_child_of(parent) or chain.consensus_params()
        try:
            claimed = claimed_history(engine, header, parent)
            history = claimed or block_history(engine, header, parent, uncle_blobs=proof.uncles,
                                               blobs=proof.blobs)
        except DataUnavailable as exc:
            raise Unverifiable(f"the accused block's uncles cannot be replayed here: {exc}"
                               ) from None
        except InvalidBlock as exc:
            return str(exc)
        if manifest.step0 != history.steps or (history.start is not None
                                                and manifest.start != history.start):
            return "training lineage broken: the proof does not start at the committed state"
        try:
            judged = engine.platforms.platform_for(header.proposer, manifest.compute,
                                                   engine.compute)
        except InvalidBlock as exc:
            return str(exc)
        disagreement = replay_steps(engine, header, parent, manifest, judged, [proof.step],
                                    proof.blobs, cp, history=history)
        if disagreement is None and claimed is not None:
            try:  # the step reproduces on the claimed transition: is that the oracle's?
                engine.validate_transition(header, engine.record(parent.hash))
            except InvalidBlock as exc:
                return str(exc)
    if disagreement is not None:
        return disagreement
    raise FraudProofError(f"fraud proof: step {manifest.step0 + proof.step} reproduces its "
                          "commitment; the accused block is valid")


def replay_steps(engine: RLPowEngine, header: BlockHeader, parent: BlockHeader,
                 manifest: Manifest, judged: dqn.ComputeSettings, steps: list[int],
                 blobs: dict[bytes, bytes], cp: Any,
                 outcome: envs.StepOutcome | None = None, *,
                 history: History | None = None) -> str | None:
    """Replay local `steps` of `header`'s proof on the canonical history up to `parent`
    (under the chain lock) plus what the block appends (`history`, derived if not given);
    the first disagreement's description, or None if all reproduce.
    One step is a fraud-proof check; every step is a full-replay verification."""
    from learnchain.consensus.rlpow import training_seed

    parent_rec = engine.record(parent.hash)
    if history is None:
        history = block_history(engine, header, parent, outcome, blobs=blobs)
    foreign = judged != engine.compute
    commits = [manifest.start, *manifest.steps]
    wanted: list[bytes] = []
    for j in steps:
        wanted += list(commits[j]) + (list(commits[j + 1]) if foreign else [])
    have: dict[bytes, bytes] = {}
    for digest in wanted:
        blob = blobs.get(digest) or engine.blobs.get(digest)
        if blob is None:
            raise Unverifiable(f"input blob {digest.hex()[:16]} of an accused step is "
                               "neither in the proof nor here")
        have[digest] = blob
    owner = header.proposer
    buf = engine._buffer(owner, parent.height, parent)
    steps0 = history.steps
    settings = dqn.TrainingSettings(judged, engine.hyper, engine.spec, len(manifest.steps),
                                    int(cp.params["C"]), steps0,
                                    training_seed(parent_rec.seed, owner, header.tx_root),
                                    len(buf) + len(history.appended))
    training = dqn.TrainingProof(settings, dqn.StepCommit(steps0 - 1, *manifest.start),
                                 manifest.step_commits(steps0), have)
    n = len(buf)
    buf.extend(history.appended)
    try:
        for j in steps:
            dqn.verify_step(training, j, buf, engine.hyper,
                            threshold=engine.threshold if foreign else None)
    except dqn.VerificationError as exc:
        return f"training steps do not reproduce: {exc}"
    finally:
        buf.truncate(n)
    return None


def apply_fraud_proof(engine: RLPowEngine, proof: FraudProof) -> Verdict:
    """Check `proof` and, if it holds, reject the block everywhere on this node and convict
    its proposer. Raises `FraudProofError` / `Unverifiable` as `check_fraud_proof` does."""
    from learnchain.consensus.rlpow_verdicts import save_verdicts

    block_hash, proposer = proof.block_hash, proof.header.proposer
    known = engine.proven_invalid.get(block_hash)
    if known is not None:
        engine.convicted.setdefault(proposer, block_hash)
        return Verdict(block_hash, proposer, known, new=False)
    if proposer in engine.convicted and not engine.chain.has_block(block_hash) and not (
            engine.shares_learner and engine.includers(proof.header)):
        # Nothing here to undo, and the key's blocks are refused anyway: no replay, nothing
        # kept (a convicted key could otherwise make every node replay and store a step for
        # each bad block it cares to sign).
        return Verdict(block_hash, proposer, "its proposer is already convicted here; the "
                       "block is refused without a replay", new=False)
    reason = check_fraud_proof(engine, proof)
    engine.proven_invalid[block_hash] = reason
    engine.convicted.setdefault(proposer, block_hash)
    engine.remember_proof(block_hash, proof.to_bytes())
    undone = engine.chain.invalidate(block_hash, f"proven invalid by a fraud proof: {reason}")
    if engine.shares_learner:  # the accused may be an uncle: its includers fall with it
        for includer in engine.includers(proof.header):
            undone += engine.chain.invalidate(
                includer, f"includes uncle 0x{block_hash.hex()[:16]}, proven invalid by a "
                f"fraud proof: {reason}")
    save_verdicts(engine)
    return Verdict(block_hash, proposer, reason, new=True, undone=undone)


def describe(verdict: Verdict) -> dict[str, Any]:
    return {"block": "0x" + verdict.block_hash.hex(), "proposer": "0x" + verdict.proposer.hex(),
            "reason": verdict.reason, "new": verdict.new, "undone": verdict.undone}


@dataclass(frozen=True)
class BlockAudit:
    """A full audit of one stored block: every training step replayed, not a sample."""

    height: int
    block_hash: bytes
    steps: int
    bad_step: int | None = None
    reason: str = ""
    proof: bytes | None = None


def step_proof(engine: RLPowEngine, block: Block, j: int,
               manifest: Manifest | None = None) -> FraudProof:
    """The proof for local step `j` of `block`, with the step's inputs this node holds (a
    missing one makes the check `Unverifiable`) and, design=uncles, the uncle and merge blobs:
    what an auditor publishes."""
    from learnchain.consensus.rlpow import Manifest

    if manifest is None:
        manifest = Manifest.from_bytes(engine.blobs.get(block.header.engine_fields["work"])
                                       or b"")
    inputs = {d: blob for d in [manifest.start, *manifest.steps][j]
              if (blob := engine.blobs.get(d)) is not None}
    context = engine.fraud_context(block.header) if engine.shares_learner else ({}, {})
    return FraudProof.for_step(block, manifest, j, inputs, *context)


def audit_block(engine: RLPowEngine, block: Block) -> BlockAudit:
    """Replay every step of `block` (its parent on the canonical chain) as a fraud-proof
    check of that step; at the first that does not reproduce, the proof for it. This is
    the offline full audit an operator runs on blocks their node's s-of-K sample accepted.
    Raises `Unverifiable` when a step's inputs are not here (a pruning node keeps only
    recent work)."""
    from learnchain.consensus.rlpow import Manifest

    header = block.header
    data = engine.blobs.get(header.engine_fields["work"])
    if data is None:
        raise Unverifiable(f"block {header.height}: its training manifest is not stored here")
    manifest = Manifest.from_bytes(data)
    for j in range(len(manifest.steps)):
        proof = step_proof(engine, block, j, manifest)
        try:
            reason = check_fraud_proof(engine, proof)
        except FraudProofError:
            continue  # the step reproduces
        return BlockAudit(header.height, header.hash, len(manifest.steps), j, reason,
                          proof.to_bytes())
    return BlockAudit(header.height, header.hash, len(manifest.steps))
