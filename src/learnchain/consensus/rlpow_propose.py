"""How an rlpow node proposes a block: act with its policy, then train (the work).

A mixin of `RLPowEngine` (like `rlpow_verify.VerifyMixin`): ``prepare`` chooses the action
with θ_before and steps the oracle; ``seal`` performs the K committed DQN steps on
coin-drawn minibatches and commits them in the manifest. Both run on the node that holds
the proposer's key; everything they write is what ``verify`` later checks.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from learnchain.consensus.base import ConsensusParams
from learnchain.consensus.rlpow_params import (
    FORMAT_VERSION,
    env_seed,
    exploration_coin,
    mint_for,
    schedule_of,
    training_seed,
)
from learnchain.consensus.rlpow_records import BlockRecord, LineageEntry, Manifest, _Pending
from learnchain.consensus.rlpow_rules import validate_pace
from learnchain.consensus.rlpow_uncles import UncleInfo
from learnchain.core.errors import InvalidBlock
from learnchain.core.types import BlockHeader
from learnchain.ml import dqn
from learnchain.storage.blobstore import cid_of_digest


class ProposeMixin:
    """Block proposal for `RLPowEngine` (which provides the attributes used here)."""

    if TYPE_CHECKING:
        env: Any
        blobs: Any
        chain: Any
        hyper: dqn.DQNConfig
        compute: dqn.ComputeSettings
        archive_work: bool
        retain_intermediate: bool
        recent_limit_bytes: int
        _recent: OrderedDict[bytes, bytes]
        _recent_bytes: int
        _own: set[bytes]
        _pending: dict[tuple[bytes, bytes], _Pending]

        @property
        def shares_learner(self) -> bool: ...
        def record(self, block_hash: bytes) -> BlockRecord: ...
        def _initial_entry(self, proposer: bytes) -> LineageEntry: ...
        def _buffer(self, owner: bytes | None, height: int,
                    tip: BlockHeader | None = None) -> dqn.ReplayBuffer: ...
        def _head_if(self, header: BlockHeader) -> BlockHeader | None: ...
        def _expected_k(self, history_len: int, cp: ConsensusParams) -> int: ...
        def _recent_proposers(self, parent: BlockHeader, cp: ConsensusParams
                              ) -> list[bytes]: ...
        def _locked(self) -> Any: ...
        def select_uncles(self, parent: BlockHeader | None, cp: ConsensusParams
                          ) -> list[UncleInfo]: ...
        def merged_start(self, parent_rec: BlockRecord, afters: list[tuple[bytes, bytes, bytes]]
                         ) -> LineageEntry: ...

    def prepare(self, header: BlockHeader, cp: ConsensusParams) -> BlockHeader:
        """Act: choose A_t with θ_before, step the oracle, fill everything but the work."""
        parent = self.chain.get_header(header.parent)
        if parent is None:
            raise InvalidBlock("rlpow: the parent of this candidate is not stored")
        validate_pace(header, parent, self._recent_proposers(parent, cp), cp.params)
        parent_rec = self.record(header.parent)
        proposer = header.proposer
        uncles: list[UncleInfo] = []
        if self.shares_learner:
            parent = self.chain.get_header(header.parent)
            uncles = self.select_uncles(parent, cp)
            start = self.merged_start(parent_rec, [u.after for u in uncles])
        else:
            start = parent_rec.lineage.get(proposer) or self._initial_entry(proposer)
        theta = self.blobs.get(start.params)
        if theta is None:
            raise InvalidBlock(f"parameters unavailable: this node lost its own θ "
                               f"{cid_of_digest(start.params)}")
        eps = schedule_of(cp.params).eps_ppb(header.height - 1)
        action, explored = dqn.select_action(theta, self.env.observe(parent_rec.state), eps,
                                             exploration_coin(parent_rec.seed, proposer))
        out = self.env.step(parent_rec.state, action, env_seed(parent_rec.seed))
        transition = dqn.Transition.from_outcome(self.env, parent_rec.state, action, out)
        history_len = (len(self._buffer(proposer, header.height - 1, self._head_if(header)))
                       + len(uncles) + 1)
        k = self._expected_k(history_len, cp)
        self._pending[(header.parent, proposer)] = _Pending(
            transition, start, k, tuple(u.transition for u in uncles))
        if len(self._pending) > 64:
            self._pending.pop(next(iter(self._pending)))
        ret = (0 if parent_rec.done else parent_rec.ret) + out.reward_fp
        fields = {"v": FORMAT_VERSION, "s": list(out.next_state), "a": action,
                  "r": out.reward_fp, "done": out.done, "ret": ret, "eps": eps,
                  "explored": explored, "theta": start.params,
                  "theta_cid": cid_of_digest(start.params), "k": k, "after": start.triple(),
                  "work": bytes(32), "mint": mint_for(out.reward_fp, cp.params)}
        if self.shares_learner:
            fields["uncles"] = [u.digest for u in uncles]
        return replace(header, engine_fields=fields)

    def seal(self, header: BlockHeader, cp: ConsensusParams,
             stop: threading.Event) -> BlockHeader | None:
        """The work: K committed DQN steps on coin-drawn minibatches of the chain's history."""
        pending = self._pending.pop((header.parent, header.proposer), None)
        if pending is None:
            raise InvalidBlock("rlpow: seal called without prepare for this parent")
        start, k = pending.start, pending.k
        with self.chain.lock:
            if stop.is_set() or self.chain.head_hash != header.parent:
                return None
            work_blobs: dict[bytes, bytes] = {}
            if k == 0:
                manifest = Manifest(start.steps, tuple(start.triple()), (), self.compute)
                after = start.triple()
            else:
                buf = self._buffer(header.proposer, header.height - 1, self.chain.head)
                n = len(buf)
                buf.extend((*pending.uncles, pending.transition))
                try:
                    state = [self.blobs.get(d) for d in start.triple()]
                    if any(b is None for b in state):
                        raise InvalidBlock("parameters unavailable: this node lost its own "
                                           "learner state")
                    params, opt, target = (b for b in state if b is not None)
                    proof = dqn.train(params, target, buf, k, int(cp.params["C"]), start.steps,
                                      training_seed(self.record(header.parent).seed,
                                                    header.proposer, header.tx_root),
                                      self.hyper, opt_bytes=opt,
                                      keep_blobs=self.retain_intermediate)
                finally:
                    buf.truncate(n)
                steps = tuple((c.params_hash, c.opt_hash, c.target_hash) for c in proof.steps)
                manifest = Manifest(start.steps, tuple(start.triple()), steps,
                                    self.compute)  # the platform this node is registered on
                after = list(steps[-1])
                work_blobs = proof.blobs
            if self.archive_work:
                self.blobs.put_many(work_blobs.values())
            else:  # only what the proposer's next block starts from
                self.blobs.put_many(work_blobs[d] for d in dict.fromkeys(after)
                                    if d in work_blobs)
            work = self.blobs.put(manifest.to_bytes())
            if self.retain_intermediate and work_blobs:
                self._remember(work_blobs.items())
        sealed = replace(header, engine_fields={**header.engine_fields, "after": after,
                                                "work": work})
        self._own.add(sealed.hash)
        return sealed

    def _remember(self, blobs: Iterable[tuple[bytes, bytes]]) -> None:
        """Keep recent blobs in memory (bounded, oldest dropped first)."""
        for digest, data in blobs:
            if digest in self._recent:
                self._recent.move_to_end(digest)
                continue
            self._recent[digest] = data
            self._recent_bytes += len(data)
        while self._recent_bytes > self.recent_limit_bytes and len(self._recent) > 1:
            _, old = self._recent.popitem(last=False)
            self._recent_bytes -= len(old)

    def blob(self, digest: bytes) -> bytes | None:
        """A blob this node can serve to peers (its recent work first, then the store)."""
        data = self._recent.get(digest)
        if data is not None:
            return data
        with self._locked():
            return self.blobs.get(digest)
