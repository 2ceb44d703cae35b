"""The ``uncles`` design of rlpow: every node's work at a height advances one shared learner.

Genesis ``engine_config["design"]`` picks it (``"lineage"``, the first design, stays the
default for comparison). Rationale and rules: ``docs/consensus-rlpow.md`` §8. In short:

* **One shared learner.** Every block at height ``h+1`` starts training from the same
  learner state: the mean (``ml.multi.merge_states``) of its parent's θ_after and of the
  θ_after of each *uncle* it includes. Its proposer acts with that merged θ (per-proposer
  exploration coins still differ), does its K steps from it, and commits to it as θ_before.
* **Uncles.** An uncle of block ``C`` (height ``h+1``) is a sibling of C's parent ``B``: a
  signed candidate for height ``h`` on the same grandparent, by another active miner, that
  started from exactly B's learner state (same θ_before, same uncle list, same k). The header
  lists the uncles' digests (ascending); each digest names the uncle's signed header as a
  blob (``Block(header, (), signature).encoded``), which travels in the sidecar.
* **Checked like the block's own work.** Each uncle's transition replays from the
  grandparent's state, its mint and action are recomputed, its training proof must start at
  B's start and is audited (s coin-chosen steps) on exactly the history it trained on; its
  proposer must differ from B's and from the other uncles'.
* **Replay history.** A block appends its uncles' transitions, then its own, to the shared
  history: N transitions per height.
* **Rewards.** Each uncle's proposer is minted ``uncle_reward_ppb`` (default 7/8) of the
  uncle's own mint by the including block (``extra_rewards``).
* **Fraud proofs.** A failed audit of a block or of an uncle yields a proof carrying the
  uncles (``fraud_context``); checkers replay the step on the same merged start and history
  (``rlpow_fraud.block_history``). A proven-invalid uncle takes its includers with it
  (``includers``) and is refused from then on, as are a convicted key's siblings.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from learnchain.consensus.rlpow_records import BlockRecord, LineageEntry
from learnchain.core.crypto import recover_address
from learnchain.core.errors import EncodingError, InvalidBlock, InvalidTransaction
from learnchain.core.types import Block, BlockHeader
from learnchain.ml import dqn
from learnchain.ml.dqn_params import _sha
from learnchain.ml.fixedpoint import PPB
from learnchain.ml.multi import merge_states
from learnchain.storage.blobstore import cid_of_digest

if TYPE_CHECKING:
    from learnchain.consensus.base import ConsensusParams

DESIGNS = ("lineage", "uncles")
SHARED = b"rlpow/shared-learner"
"""Lineage key of the one shared learner in the ``uncles`` design (not an address)."""
UNCLE_CACHE = 256
UNCLE_POOL_PARENTS = 64
UNCLE_POOL_PER_PARENT = 64


@dataclass(frozen=True)
class UncleInfo:
    """A checked uncle: what the including block needs from it."""

    digest: bytes
    header: BlockHeader
    transition: dqn.Transition
    after: tuple[bytes, bytes, bytes]


NOT_SAME_START = ("uncle rejected: it did not start from the parent's learner state "
                  "(θ_before, uncles and k must be the parent's)")
START_FIELDS = ("theta", "uncles", "k")
"""What an uncle shares with the parent of the block including it (the same learner start)."""


def same_start(header: BlockHeader, parent: BlockHeader) -> bool:
    """True when ``header`` started from exactly ``parent``'s learner state. Checked on every
    use, not only on the cached first check: a candidate checked as the uncle of one sibling
    is not an uncle of another sibling that started elsewhere."""
    hf, pf = header.engine_fields, parent.engine_fields
    return all(k in hf and k in pf and hf[k] == pf[k] for k in START_FIELDS)


def uncle_blob(block: Block) -> bytes:
    """The content an uncle digest names: the signed header, without transactions."""
    return Block(block.header, (), block.signature).encoded


class UnclesMixin:
    """Uncle selection, checking, merging and rewards for ``RLPowEngine`` (design=uncles)."""

    design: str
    max_uncles: int
    uncle_reward_ppb: int
    _uncle_pool: OrderedDict[bytes, dict[bytes, bytes]]
    _uncle_checked: OrderedDict[bytes, UncleInfo]
    _merges: OrderedDict[tuple[bytes, ...], LineageEntry]
    chain: Any
    blobs: Any
    env: Any
    _own: set[bytes]
    proven_invalid: dict[bytes, str]
    convicted: dict[bytes, bytes]

    # ----- plumbing provided by RLPowEngine ---------------------------------------------
    if TYPE_CHECKING:
        def record(self, block_hash: bytes) -> BlockRecord: ...
        def check_header(self, header: BlockHeader) -> None: ...
        def can_propose(self, proposer: bytes, cp: ConsensusParams) -> bool: ...
        def _initial_entry(self, proposer: bytes) -> LineageEntry: ...
        def _audit_uncle_training(self, header: BlockHeader, parent: BlockHeader,
                                  gp_rec: BlockRecord, start: LineageEntry,
                                  transition: dqn.Transition, cp: ConsensusParams,
                                  signature: bytes | None = None) -> None: ...
        def validate_transition(self, header: BlockHeader, parent_rec: BlockRecord) -> Any: ...
        def validate_mint(self, header: BlockHeader, cp: ConsensusParams) -> None: ...
        def validate_action(self, header: BlockHeader, parent_rec: BlockRecord,
                            cp: ConsensusParams, compute: Any) -> None: ...
        def _manifest(self, header: BlockHeader) -> Any: ...

    @property
    def shares_learner(self) -> bool:
        return self.design == "uncles"

    def lineage_key(self, proposer: bytes) -> bytes:
        return SHARED if self.shares_learner else proposer

    def offer_uncle(self, block: Block) -> None:
        """Remember a candidate that lost its height. Nothing is trusted here: a candidate is
        checked (``check_uncle``) only when a block would include it. Node-local offers
        (``rlpow_siblings``, the simulator); siblings from peers are found in the block store.
        Bounded: ``UNCLE_POOL_PARENTS`` parents, ``UNCLE_POOL_PER_PARENT`` candidates each."""
        pool = self._uncle_pool.setdefault(block.parent, {})
        self._uncle_pool.move_to_end(block.parent)
        data = uncle_blob(block)
        if len(pool) < UNCLE_POOL_PER_PARENT:
            pool[_sha(data)] = data
        while len(self._uncle_pool) > UNCLE_POOL_PARENTS:
            self._uncle_pool.popitem(last=False)

    # ----- the merged start ---------------------------------------------------------------

    def shared_base(self, parent_rec: BlockRecord) -> LineageEntry:
        """The shared learner after the parent: its θ_after and the shared step counter (what
        a child's start is merged from; reads no blob)."""
        return parent_rec.lineage.get(SHARED) or self._initial_entry(SHARED)

    def merged_start(self, parent_rec: BlockRecord, afters: list[tuple[bytes, bytes, bytes]],
                     extra: dict[bytes, bytes] | None = None) -> LineageEntry:
        """Where a block (and its uncles-to-be) starts: mean of the parent's θ_after and the
        included uncles' θ_after, with the shared step counter of the parent. ``extra``:
        hash-checked blobs from elsewhere (a fraud proof) read before the store."""
        base = self.shared_base(parent_rec)
        if not afters:
            return base
        key = (*base.triple(), *[d for a in afters for d in a])
        cached = self._merges.get(key)
        if cached is not None:
            return cached
        extra = extra or {}
        states = []
        for triple in (tuple(base.triple()), *afters):
            blobs = [extra.get(d) or self.blobs.get(d) for d in triple]
            if any(b is None for b in blobs):
                missing = tuple(d for d, b in zip(triple, blobs, strict=True) if b is None)
                from learnchain.core.errors import DataUnavailable

                raise DataUnavailable(f"parameters unavailable: learner state "
                                      f"{cid_of_digest(missing[0])} to merge is not in the "
                                      "content store", missing)
            states.append(dqn.LearnerState(blobs[0], blobs[1], blobs[2]))
        try:
            merged = merge_states(states)
        except dqn.VerificationError as exc:
            raise InvalidBlock(f"uncle rejected: its learner state cannot be merged ({exc})"
                               ) from None
        entry = LineageEntry(base.steps, self.blobs.put(merged.params),
                             self.blobs.put(merged.opt), self.blobs.put(merged.target),
                             base.height)
        self._merges[key] = entry
        while len(self._merges) > UNCLE_CACHE:
            self._merges.popitem(last=False)
        return entry

    def start_of(self, header: BlockHeader) -> LineageEntry:
        """The learner state a stored block started from (its parent and uncles merged)."""
        rec = self.record(header.hash)
        if rec.start is not None:
            return rec.start
        return self.merged_start(self.record(header.parent),
                                 [u.after for u in self.load_uncles(header)])

    # ----- checking -------------------------------------------------------------------------

    def _load_uncle(self, digest: bytes, extra: dict[bytes, bytes] | None = None
                    ) -> tuple[BlockHeader, bytes]:
        from learnchain.core.errors import DataUnavailable

        data = (extra or {}).get(digest) or self.blobs.get(digest)
        if data is None:
            raise DataUnavailable(f"parameters unavailable: uncle {cid_of_digest(digest)} is "
                                  "not in the content store", (digest,))
        try:
            block = Block.decode(data)
        except EncodingError as exc:
            raise InvalidBlock(f"uncle rejected: malformed uncle blob ({exc})") from None
        if block.transactions:
            raise InvalidBlock("uncle rejected: an uncle blob carries no transactions")
        return block.header, block.signature

    def validate_uncles(self, header: BlockHeader, parent: BlockHeader | None,
                        cp: ConsensusParams | None) -> list[UncleInfo]:
        """Check every uncle a block lists (``cp=None``: already verified, only load them)."""
        digests = header.engine_fields.get("uncles") or []
        if not digests:
            return []
        if parent is None:
            parent = self.chain.get_header(header.parent)
            if parent is None:
                raise InvalidBlock("uncle rejected: the block's parent is not stored")
        if parent.height == 0:
            raise InvalidBlock("uncle rejected: a child of genesis has no uncles")
        seen = {parent.proposer}
        out = []
        for d in digests:
            info = self._uncle_checked.get(d)
            if info is None:
                uh, sig = self._load_uncle(d)
                info = self.check_uncle(d, uh, sig, parent, cp)
            if info.header.hash in self.proven_invalid:  # its cached check predates the proof
                raise InvalidBlock(f"uncle rejected: a fraud proof showed it invalid "
                                   f"({self.proven_invalid[info.header.hash]})")
            if info.header.proposer in self.convicted:
                raise InvalidBlock(f"uncle rejected: proposer 0x{info.header.proposer.hex()} "
                                   "is banned as a miner by a fraud proof")
            self._check_relation(info.header, parent, seen)
            out.append(info)
        return out

    @staticmethod
    def _check_relation(uh: BlockHeader, parent: BlockHeader, seen: set[bytes]) -> None:
        """An uncle, checked or not, must be a sibling of ``parent`` that started from its
        learner state, by a proposer not yet in ``seen`` (which it joins)."""
        if uh.proposer in seen:
            raise InvalidBlock(f"uncle rejected: proposer 0x{uh.proposer.hex()} "
                               "already has work at this height in this block")
        if uh.parent != parent.parent or uh.height != parent.height or uh.hash == parent.hash:
            raise InvalidBlock("uncle rejected: it is not a sibling of the parent")
        if not same_start(uh, parent):  # a cached check was for another sibling
            raise InvalidBlock(NOT_SAME_START)
        seen.add(uh.proposer)

    def check_uncle(self, digest: bytes, uh: BlockHeader, sig: bytes, parent: BlockHeader,
                    cp: ConsensusParams | None) -> UncleInfo:
        """One uncle's work, checked as its own block would be (cached by digest)."""
        if cp is None:
            cp = self.chain.consensus_params()
        if uh.hash in self.proven_invalid:
            raise InvalidBlock("uncle rejected: a fraud proof showed it invalid")
        if uh.height != parent.height or uh.parent != parent.parent or uh.hash == parent.hash:
            raise InvalidBlock("uncle rejected: it is not a sibling of the parent")
        try:
            signer = recover_address(uh.hash, sig)
        except InvalidTransaction as exc:
            raise InvalidBlock(f"uncle rejected: signature ({exc})") from None
        if signer != uh.proposer:
            raise InvalidBlock("uncle rejected: the signature is not its proposer's")
        if not self.can_propose(uh.proposer, cp):
            raise InvalidBlock(f"uncle rejected: 0x{uh.proposer.hex()} is not an active miner")
        if uh.proposer in self.convicted:  # as check_governed refuses its blocks
            raise InvalidBlock(f"uncle rejected: proposer 0x{uh.proposer.hex()} is banned as a "
                               "miner by a fraud proof")
        self.check_header(uh)
        uf = uh.engine_fields
        if not same_start(uh, parent):
            raise InvalidBlock(NOT_SAME_START)
        gp_rec = self.record(parent.parent)
        outcome = self.validate_transition(uh, gp_rec)
        self.validate_mint(uh, cp)
        start = self.start_of(parent)
        manifest = self._manifest(uh)
        self.validate_action(uh, gp_rec, cp, manifest.compute)
        transition = dqn.Transition.from_outcome(self.env, gp_rec.state, uf["a"], outcome)
        if manifest.start != tuple(start.triple()) or manifest.step0 != start.steps:
            raise InvalidBlock("uncle rejected: training lineage broken: its proof does not "
                               "start from the shared learner state")
        if len(manifest.steps) != uf["k"] or list(manifest.final()) != list(uf["after"]):
            raise InvalidBlock("uncle rejected: training steps do not reproduce: the proof "
                               "does not end at the committed θ_after")
        if uf["k"] and uh.hash not in self._own:
            self._audit_uncle_training(uh, parent, gp_rec, start, transition, cp, sig)
        info = UncleInfo(digest, uh, transition, tuple(uf["after"]))  # type: ignore[arg-type]
        self._uncle_checked[digest] = info
        while len(self._uncle_checked) > UNCLE_CACHE:
            self._uncle_checked.popitem(last=False)
        return info

    def load_uncles(self, header: BlockHeader, extra: dict[bytes, bytes] | None = None
                    ) -> list[UncleInfo]:
        """The uncles of a stored block that was verified before (a restart rebuilding its
        records), or of a block accused by a fraud proof (``extra``: the uncle blobs the proof
        carries, hash-checked): checked ones from the cache, others loaded and their
        transitions replayed from the grandparent's state, without re-auditing their training."""
        out = []
        for d in header.engine_fields.get("uncles") or []:
            info = self._uncle_checked.get(d)
            if info is None:
                uh, _ = self._load_uncle(d, extra)
                gp_rec = self.record(uh.parent)
                outcome = self.validate_transition(uh, gp_rec)
                tr = dqn.Transition.from_outcome(self.env, gp_rec.state, uh.engine_fields["a"],
                                                 outcome)
                info = UncleInfo(d, uh, tr, tuple(uh.engine_fields["after"]))  # type: ignore[arg-type]
            out.append(info)
        return out

    def uncle_blob_digests(self, header: BlockHeader) -> list[bytes]:
        """Blobs a verifier of ``header`` needs for its uncles: each uncle blob, and for each
        uncle this node has, its manifest and θ_after triple (audit blobs come on top)."""
        out: list[bytes] = []
        for d in header.engine_fields.get("uncles") or []:
            out.append(d)
            data = self.blobs.get(d)
            if data is None:
                continue
            try:
                uf = Block.decode(data).header.engine_fields
            except EncodingError:
                continue
            work, after = uf.get("work"), uf.get("after")
            if isinstance(work, bytes):
                out.append(work)
            if isinstance(after, list):
                out.extend(a for a in after if isinstance(a, bytes))
        return out

    def fraud_context(self, header: BlockHeader) -> tuple[dict[bytes, bytes],
                                                          dict[bytes, bytes]]:
        """What a fraud proof against a block of this design carries besides the bad step's
        inputs: the uncle blobs it lists (a checker replays their transitions) and the blobs
        its merged start is the mean of, the uncles' θ_after first (a checker holding the
        parent holds the parent's)."""
        uncles: dict[bytes, bytes] = {}
        afters: list[bytes] = []
        for d in header.engine_fields.get("uncles") or []:
            data = self.blobs.get(d)
            if data is None:
                continue
            uncles[d] = data
            try:
                after = Block.decode(data).header.engine_fields.get("after")
            except EncodingError:
                continue
            if isinstance(after, list):
                afters.extend(a for a in after if isinstance(a, bytes))
        parent = self.chain.get_header(header.parent)
        if parent is not None and parent.height > 0:
            afters.extend(parent.engine_fields["after"])
        merge: dict[bytes, bytes] = {}
        for d in afters:
            blob = self.blobs.get(d)
            if blob is not None:
                merge.setdefault(d, blob)
        return uncles, merge

    def includers(self, header: BlockHeader) -> list[bytes]:
        """Stored blocks that list ``header`` as an uncle (children of its siblings): invalid
        with it when a fraud proof convicts it, though their proposers are not convicted (an
        includer audits only ``s`` of the uncle's steps and may have missed the bad one)."""
        out = []
        for sibling in self.chain.store.children(header.parent):
            for child in self.chain.store.children(sibling):
                ch = self.chain.get_header(child)
                for d in (ch.engine_fields.get("uncles") or []) if ch is not None else []:
                    data = self.blobs.get(d)
                    try:
                        if data is not None and Block.decode(data).header.hash == header.hash:
                            out.append(child)
                    except EncodingError:
                        continue
        return out

    # ----- proposing ------------------------------------------------------------------------

    def select_uncles(self, parent: BlockHeader, cp: ConsensusParams) -> list[UncleInfo]:
        """Every valid sibling of the parent this node knows, by ascending digest, one per
        proposer, at most ``max_uncles`` (the deterministic rule honest nodes share). Each
        proposer's first candidate (by digest) with a valid signature is the only one checked:
        if it is not includable, that proposer has no uncle in this block."""
        if parent.height == 0 or self.max_uncles == 0:
            return []
        pool = dict(self._uncle_pool.get(parent.parent, {}))
        for h in self.chain.store.children(parent.parent):
            if h == parent.hash:
                continue
            block = self.chain.get_block(h)
            if block is not None:
                data = uncle_blob(block)
                pool[_sha(data)] = data
        chosen: list[UncleInfo] = []
        seen = {parent.proposer}  # proposers whose work is counted, or whose candidate failed
        for d in sorted(pool):
            if len(chosen) >= self.max_uncles:
                break
            info = self._uncle_checked.get(d)
            if info is None:
                try:
                    block = Block.decode(pool[d])
                    proposer = block.header.proposer
                    if (proposer in seen or block.header.hash == parent.hash
                            or recover_address(block.header.hash, block.signature) != proposer):
                        continue  # a forged signature costs one recovery, not a replay
                except (EncodingError, InvalidTransaction):
                    continue
                # One full check per proposer: a miner signing many bad siblings cannot make
                # a proposer replay and audit each of them (only its own work is lost).
                seen.add(proposer)
                self.blobs.put(pool[d])
                try:
                    uh, sig = self._load_uncle(d)
                    info = self.check_uncle(d, uh, sig, parent, cp)
                except InvalidBlock:
                    continue  # not includable (data missing, another start, or invalid)
            elif (info.header.proposer in seen or info.header.hash == parent.hash
                  or info.header.hash in self.proven_invalid
                  or info.header.proposer in self.convicted
                  or info.header.parent != parent.parent or not same_start(info.header, parent)):
                continue  # checked before, as the uncle of another sibling
            seen.add(info.header.proposer)
            chosen.append(info)
        return chosen

    # ----- rewards --------------------------------------------------------------------------

    def extra_rewards(self, header: BlockHeader, cp: ConsensusParams) -> list[tuple[bytes, int]]:
        """Uncle proposers' mints: ``uncle_reward_ppb`` of each uncle's own mint."""
        if not self.shares_learner or not header.engine_fields.get("uncles"):
            return []
        infos = [self._uncle_checked.get(d) for d in header.engine_fields["uncles"]]
        if any(i is None for i in infos):
            infos = self.validate_uncles(header, None, cp)  # type: ignore[assignment]
        return [(i.header.proposer, i.header.engine_fields["mint"] * self.uncle_reward_ppb // PPB)
                for i in infos if i is not None]
