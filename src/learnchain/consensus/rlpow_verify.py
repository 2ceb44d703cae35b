"""How an rlpow node verifies a block: the validation steps in order, the audit of the
training proof, and the blobs it must fetch first.

A mixin of `RLPowEngine` (like `rlpow_uncles.UnclesMixin`): the rules need the engine's
records, blob store and platform registry, but read best on their own, in the order
``verify`` runs them. Each step raises ``InvalidBlock`` with a message that starts with the
failure's name (module docstring of ``consensus/rlpow.py``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from learnchain.consensus.base import ConsensusParams
from learnchain.consensus.rlpow_params import (
    env_seed,
    exploration_coin,
    mint_for,
    schedule_of,
    training_seed,
)
from learnchain.consensus.rlpow_records import BlockRecord, LineageEntry, Manifest, _short
from learnchain.consensus.rlpow_rules import validate_pace
from learnchain.consensus.rlpow_uncles import UncleInfo
from learnchain.core.errors import DataUnavailable, InvalidBlock
from learnchain.core.types import Block, BlockHeader
from learnchain.ml import coins, dqn, envs
from learnchain.storage.blobstore import cid_of_digest


class VerifyMixin:
    """Block verification for `RLPowEngine` (which provides the attributes used here)."""

    if TYPE_CHECKING:
        env: Any
        blobs: Any
        chain: Any
        hyper: dqn.DQNConfig
        spec: dqn.NetSpec
        compute: dqn.ComputeSettings
        platforms: Any
        drift: Any
        threshold: float
        tie_tolerance: float
        audit_salt: bytes
        trust_own_blocks: bool
        light_depth: int | None
        light_below: int
        stats: dict[str, int]
        found_proofs: Any
        convicted: dict[bytes, bytes]
        proven_invalid: dict[bytes, str]
        _own: set[bytes]
        _records: dict[bytes, BlockRecord]

        @property
        def shares_learner(self) -> bool: ...
        def record(self, block_hash: bytes) -> BlockRecord: ...
        def _initial_entry(self, proposer: bytes) -> LineageEntry: ...
        def _buffer(self, owner: bytes | None, height: int,
                    tip: BlockHeader | None = None) -> dqn.ReplayBuffer: ...
        def _expected_k(self, history_len: int, cp: ConsensusParams) -> int: ...
        def _recent_proposers(self, parent: BlockHeader, cp: ConsensusParams
                              ) -> list[bytes]: ...
        def _make_record(self, header: BlockHeader, parent_rec: BlockRecord,
                         outcome: envs.StepOutcome, transition: dqn.Transition | None = None,
                         uncles: list[UncleInfo] | None = None,
                         start: LineageEntry | None = None) -> BlockRecord: ...
        def _locked(self) -> Any: ...
        def validate_uncles(self, header: BlockHeader, parent: BlockHeader | None,
                            cp: ConsensusParams) -> list[UncleInfo]: ...
        def merged_start(self, parent_rec: BlockRecord, afters: list[tuple[bytes, bytes, bytes]]
                         ) -> LineageEntry: ...
        def uncle_blob_digests(self, header: BlockHeader) -> list[bytes]: ...
        def fraud_context(self, header: BlockHeader) -> tuple[dict[bytes, bytes],
                                                              dict[bytes, bytes]]: ...

    def remember_proof(self, block_hash: bytes, data: bytes) -> None:
        """Keep a proof that held for the peer layer to pass on (the latest 64)."""
        self.found_proofs.setdefault(block_hash, data)
        while len(self.found_proofs) > 64:
            self.found_proofs.popitem(last=False)

    def _convict_by_audit(self, block: Block, manifest: Manifest, j: int,
                          blobs: dict[bytes, bytes]) -> None:
        """This node's audit found a bad step: keep a fraud proof for the peer layer to
        publish, and ban the proposer here (consensus/rlpow_fraud.py)."""
        from learnchain.consensus import rlpow_fraud

        uncles, merge = (self.fraud_context(block.header) if self.shares_learner
                         else ({}, {}))
        proof = rlpow_fraud.FraudProof.for_step(block, manifest, j, blobs, uncles, merge)
        self.remember_proof(block.hash, proof.to_bytes())
        self.convicted.setdefault(block.header.proposer, block.hash)
        self.proven_invalid[block.hash] = f"fraud proof: step {manifest.step0 + j}"

    # ----- validation steps (each raises InvalidBlock with a specific message) -----------

    def validate_mint(self, header: BlockHeader, cp: ConsensusParams) -> None:
        f = header.engine_fields
        expected = mint_for(f["r"], cp.params)
        if f["mint"] != expected:
            raise InvalidBlock(f"reward mint is wrong: the header mints {f['mint']}, "
                               f"base + κ·clip(R, 0, R_cap) gives {expected}")

    def validate_transition(self, header: BlockHeader, parent_rec: BlockRecord
                            ) -> envs.StepOutcome:
        """Replay the oracle: ``(S_{t+1}, R_{t+1}, done) = step(S_t, A_t, h(seed ‖ 0))``."""
        f = header.engine_fields
        try:
            out = self.env.step(parent_rec.state, f["a"], env_seed(parent_rec.seed))
        except (envs.EnvError, ValueError) as exc:
            raise InvalidBlock(f"transition does not replay: {exc}") from None
        if list(out.next_state) != list(f["s"]):
            raise InvalidBlock(f"transition does not replay: the block records S_t+1={f['s']}, "
                               f"the oracle gives {list(out.next_state)}")
        if out.reward_fp != f["r"]:
            raise InvalidBlock(f"reward does not replay: the block records R={f['r']}, the "
                               f"oracle gives {out.reward_fp}")
        if out.done != f["done"]:
            raise InvalidBlock(f"transition does not replay: done={f['done']}, the oracle "
                               f"gives {out.done}")
        expected_ret = (0 if parent_rec.done else parent_rec.ret) + out.reward_fp
        if f["ret"] != expected_ret:
            raise InvalidBlock(f"transition does not replay: running return {f['ret']} should "
                               f"be {expected_ret}")
        return out

    def validate_lineage(self, header: BlockHeader, parent_rec: BlockRecord,
                         merged: LineageEntry | None = None) -> LineageEntry:
        """θ_before must be the proposer's θ_after on this branch (or its coin-derived init);
        design=uncles: the merged shared state (``merged``)."""
        f = header.engine_fields
        if merged is not None:
            if f["theta"] != merged.params:
                raise InvalidBlock(f"training lineage broken: θ_before {_short(f['theta'])} is "
                                   f"not the merged shared learner {_short(merged.params)}")
            return merged
        previous = parent_rec.lineage.get(header.proposer)
        start = previous or self._initial_entry(header.proposer)
        if f["theta"] != start.params:
            where = (f"θ_after of its block at height {previous.height}" if previous
                     else "the coin-derived initial parameters (first block of this proposer)")
            raise InvalidBlock(f"training lineage broken: θ_before {_short(f['theta'])} is not "
                               f"{where} {_short(start.params)}")
        return start

    def validate_action(self, header: BlockHeader, parent_rec: BlockRecord,
                        cp: ConsensusParams, compute: dqn.ComputeSettings | None) -> None:
        """A_t = argmax Q(S_t, ·; θ_before) unless the coin u < ε picked the random action."""
        f = header.engine_fields
        eps = schedule_of(cp.params).eps_ppb(header.height - 1)
        if f["eps"] != eps:
            raise InvalidBlock(f"action disagrees with the committed policy: ε={f['eps']} ppb "
                               f"but the schedule gives {eps} at height {header.height}")
        theta = self.blobs.get(f["theta"])
        if theta is None:
            raise DataUnavailable(f"parameters unavailable: θ_before {f['theta_cid']} is not "
                                  "in the content store", (f["theta"],))
        coin = exploration_coin(parent_rec.seed, header.proposer)
        obs = self.env.observe(parent_rec.state)
        try:
            action, explored = dqn.select_action(theta, obs, eps, coin)
        except dqn.VerificationError as exc:
            raise InvalidBlock(f"parameters unavailable: θ_before is not a valid network "
                               f"({exc})") from None
        if explored != f["explored"]:
            raise InvalidBlock(f"action disagrees with the committed policy: explored="
                               f"{f['explored']} but the coin says {explored}")
        if action == f["a"]:
            return
        if not explored and compute is not None and compute != self.compute:
            q = dqn.q_values(theta, obs)
            scale = max(1.0, abs(q[action]))
            if abs(q[action] - q[f["a"]]) <= self.tie_tolerance * scale:
                return  # a near-tie another platform's float32 kernels may resolve differently
        kind = "the exploration coin" if explored else "argmax Q(S_t, ·; θ_before)"
        raise InvalidBlock(f"action disagrees with the committed policy: the block plays "
                           f"A={f['a']}, {kind} gives {action}")

    def _manifest(self, header: BlockHeader) -> Manifest:
        data = self.blobs.get(header.engine_fields["work"])
        if data is None:
            work = header.engine_fields["work"]
            raise DataUnavailable(f"parameters unavailable: training manifest "
                                  f"{cid_of_digest(work)} is not in the content store", (work,))
        return Manifest.from_bytes(data)

    def validate_training(self, block: Block, parent_rec: BlockRecord, start: LineageEntry,
                          transition: dqn.Transition, cp: ConsensusParams,
                          manifest: Manifest, parent: BlockHeader | None = None,
                          uncles: tuple[dqn.Transition, ...] = ()) -> None:
        """The proof starts at the lineage, ends at θ_after, and s audited steps reproduce.

        ``uncles``: transitions the block adds to the history before its own (design=uncles).
        """
        header = block.header
        f = header.engine_fields
        owner = header.proposer
        buf = self._buffer(owner, header.height - 1, parent)
        k_expected = self._expected_k(len(buf) + len(uncles) + 1, cp)
        if f["k"] != k_expected:
            raise InvalidBlock(f"training steps do not reproduce: the block performs k={f['k']} "
                               f"steps, consensus requires {k_expected}")
        if manifest.start != tuple(start.triple()) or manifest.step0 != start.steps:
            raise InvalidBlock("training lineage broken: the training proof does not start "
                               "from the proposer's committed learner state")
        if len(manifest.steps) != f["k"]:
            raise InvalidBlock(f"training steps do not reproduce: the manifest commits "
                               f"{len(manifest.steps)} steps, the header claims {f['k']}")
        if list(manifest.final()) != list(f["after"]):
            raise InvalidBlock("training steps do not reproduce: the proof does not end at the "
                               "committed θ_after")
        if f["k"] == 0 or (self.trust_own_blocks and block.hash in self._own):
            return
        self._audit(header, manifest, start, f["k"], cp, parent_rec.seed, owner, buf,
                    (*uncles, transition), block)

    def _audit_uncle_training(self, header: BlockHeader, parent: BlockHeader,
                              gp_rec: BlockRecord, start: LineageEntry,
                              transition: dqn.Transition, cp: ConsensusParams,
                              signature: bytes | None = None) -> None:
        """Audit an uncle on the history it trained on: the parent's, minus the parent's own
        transition (the last one), plus the uncle's. With its ``signature``, a failed step
        yields a fraud proof against the uncle (a block at the parent's height on the
        grandparent, whose uncles are the parent's: ``rlpow_fraud.block_history``)."""
        buf = self._buffer(None, parent.height, parent)
        n = len(buf)
        own = buf[n - 1]
        buf.truncate(n - 1)
        block = Block(header, (), signature) if signature is not None else None
        try:
            self._audit(header, self._manifest(header), start, header.engine_fields["k"],
                        cp, gp_rec.seed, header.proposer, buf, (transition,), block)
        except InvalidBlock as exc:
            raise InvalidBlock(f"uncle rejected: {exc}") from None
        finally:
            buf.append(own)

    def _audit(self, header: BlockHeader, manifest: Manifest, start: LineageEntry, k: int,
               cp: ConsensusParams, seed: bytes, owner: bytes, buf: dqn.ReplayBuffer,
               appended: tuple[dqn.Transition, ...], block: Block | None = None) -> None:
        """Replay this node's audit sample of a proof on ``buf`` + ``appended`` (restored).

        A failed step of ``block`` yields a fraud proof (both designs: under ``uncles`` it
        carries the uncles, whose transitions precede the block's own in ``appended``).
        """
        chosen, digests = self.audit_plan(header.hash, manifest, int(cp.params["audit_steps"]))
        if not chosen:
            return
        needed: dict[bytes, bytes] = {}
        for digest, j in digests.items():
            data = self.blobs.get(digest)
            if data is None:
                raise DataUnavailable(f"parameters unavailable: blob {cid_of_digest(digest)} of "
                                      f"training step {manifest.step0 + j} is not in the "
                                      "content store",
                                      tuple(d for d in digests if not self.blobs.has(d)))
            needed[digest] = data
        judged = self.platforms.platform_for(owner, manifest.compute, self.compute)
        foreign = judged != self.compute
        settings = dqn.TrainingSettings(judged if foreign else self.compute, self.hyper,
                                        self.spec, k, int(cp.params["C"]), start.steps,
                                        training_seed(seed, owner, header.tx_root),
                                        len(buf) + len(appended))
        proof = dqn.TrainingProof(
            settings, dqn.StepCommit(start.steps - 1, *manifest.start),
            manifest.step_commits(start.steps), needed)
        n = len(buf)
        buf.extend(appended)
        distances: list[float] = []
        try:
            for j in chosen:
                try:
                    distances.append(dqn.verify_step(
                        proof, j, buf, self.hyper, threshold=self.threshold if foreign else None))
                except dqn.VerificationError as exc:
                    if block is not None:
                        self._convict_by_audit(block, manifest, j, needed)
                    raise InvalidBlock(f"training steps do not reproduce: {exc}") from None
        finally:
            buf.truncate(n)
        self.stats["audited_steps"] += len(chosen)
        if foreign:
            self.drift.check(owner, distances)

    def audit_plan(self, block_hash: bytes, manifest: Manifest, s: int
                   ) -> tuple[list[int], dict[bytes, int]]:
        """Which of a proof's steps this node audits, and the blobs (digest -> step) it reads.

        The choice hashes the block with this node's private salt, so a prover cannot know
        which steps a given verifier will replay, nor ship only the blobs of honest steps.
        """
        k = len(manifest.steps)
        if k == 0 or s == 0:
            return [], {}
        chosen = dqn.steps_to_check(coins.hash_parts(b"rlpow/audit", block_hash,
                                                     self.audit_salt), k, s)
        commits = [manifest.start, *manifest.steps]
        foreign = manifest.compute != self.compute  # may over-fetch: judged at verification
        digests: dict[bytes, int] = {}
        for j in chosen:
            for commit in (commits[j], commits[j + 1]) if foreign else (commits[j],):
                for digest in commit:
                    digests.setdefault(digest, j)
        return chosen, digests

    def missing_blobs(self, block: Block) -> list[bytes]:
        """Blobs this node lacks to verify `block`: the manifest and θ_before first, then
        (once the manifest is here) the states its audits will read.

        Plans with the head's audit count. Audit choices are nested (s steps are the first s
        distinct coins), so a count that was lower at the block's parent only over-fetches. One
        that was higher (governance lowered it since) leaves a blob out: verification then
        refuses the block as ``DataUnavailable`` naming it, which the chain does not remember
        as invalid and the peer layer fetches before the block's next import.
        """
        f = block.header.engine_fields
        work, theta = f.get("work"), f.get("theta")
        if (not (isinstance(work, bytes) and isinstance(theta, bytes)) or block.hash in self._own
                or block.header.height <= self.light_below):
            return []
        with self._locked():
            missing = [d for d in dict.fromkeys((work, theta)) if not self.blobs.has(d)]
            data = self.blobs.get(work)
            if data is None:
                return missing
            try:
                manifest = Manifest.from_bytes(data)
            except InvalidBlock:
                return missing  # verification will say what is wrong with it
            s = int(self.chain.consensus_params().params["audit_steps"])
            _, digests = self.audit_plan(block.hash, manifest, s)
            missing.extend(d for d in digests if d not in missing and not self.blobs.has(d))
            if self.shares_learner:
                for d in self.uncle_blob_digests(block.header):
                    if d not in missing and not self.blobs.has(d):
                        missing.append(d)
        return missing

    def note_sync_target(self, height: int) -> None:
        """A peer showed linked headers up to `height`: blocks more than `light_depth` below
        it may be pruned on every peer, so they may be verified without blobs."""
        if self.light_depth is not None:
            self.light_below = max(self.light_below, height - self.light_depth)

    def verify(self, block: Block, parent: BlockHeader, cp: ConsensusParams) -> None:
        try:
            self._verify_full(block, parent, cp)
        except DataUnavailable:
            # The uncles design merges blobs into every start, so it has no light path.
            if block.header.height > self.light_below or self.shares_learner:
                raise
            self._verify_light(block, parent, cp)

    def _verify_light(self, block: Block, parent: BlockHeader, cp: ConsensusParams) -> None:
        """Below the sync window, blobs pruned: every check that reads no parameter blob (the
        oracle, the mint, the lineage by hash and, if stored, the manifest's commitments). The
        action and the audited steps are not replayed (consensus/rlpow_pruning.py)."""
        header = block.header
        validate_pace(header, parent, self._recent_proposers(parent, cp), cp.params)
        parent_rec = self.record(parent.hash)
        outcome = self.validate_transition(header, parent_rec)
        self.validate_mint(header, cp)
        start = self.validate_lineage(header, parent_rec)
        transition = dqn.Transition.from_outcome(self.env, parent_rec.state,
                                                 header.engine_fields["a"], outcome)
        if self.blobs.has(header.engine_fields["work"]):
            no_audit = replace(cp, params={**cp.params, "audit_steps": 0})
            self.validate_training(block, parent_rec, start, transition, no_audit,
                                   self._manifest(header), parent)
        self._records[block.hash] = self._make_record(header, parent_rec, outcome, transition)
        self.stats["light_blocks"] = self.stats.get("light_blocks", 0) + 1

    def _verify_full(self, block: Block, parent: BlockHeader, cp: ConsensusParams) -> None:
        header = block.header
        validate_pace(header, parent, self._recent_proposers(parent, cp), cp.params)
        parent_rec = self.record(parent.hash)
        outcome = self.validate_transition(header, parent_rec)
        self.validate_mint(header, cp)
        uncles: list[UncleInfo] | None = None
        merged = None
        if self.shares_learner:
            uncles = self.validate_uncles(header, parent, cp)
            merged = self.merged_start(parent_rec, [u.after for u in uncles])
        start = self.validate_lineage(header, parent_rec, merged)
        manifest = self._manifest(header)
        try:
            judged = self.platforms.platform_for(header.proposer, manifest.compute, self.compute)
        except InvalidBlock:
            judged = self.compute  # validate_training names the mismatch
        self.validate_action(header, parent_rec, cp, judged)
        transition = dqn.Transition.from_outcome(self.env, parent_rec.state,
                                                 header.engine_fields["a"], outcome)
        self.validate_training(block, parent_rec, start, transition, cp, manifest, parent,
                               tuple(u.transition for u in uncles or []))
        self._records[block.hash] = self._make_record(header, parent_rec, outcome, transition,
                                                      uncles, merged)
        self.stats["verified_blocks"] += 1
