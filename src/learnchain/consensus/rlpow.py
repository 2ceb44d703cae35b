"""`rlpow`: proof of work as deep reinforcement learning, with every claim checkable.

The chain's growth is one episode of an MDP. Block ``t+1`` records the action ``A_t`` its
proposer's policy chose in ``S_t`` (the parent's recorded state), the oracle's answer
``(S_{t+1}, R_{t+1}, done)``, and the work: ``K`` committed DQN gradient steps that move the
proposer's parameters from ``θ_before`` (the policy that acted) to ``θ_after``, on minibatches
drawn by coins from the chain's own transition history. Design and threat model:
``docs/consensus-rlpow.md``; the ML layer it calls: ``docs/ml-determinism.md``.

Header ``engine_fields`` (no floats; fixed point ``SCALE = 10**9``; digests are SHA-256, which is
also the CIDv1 content id of the bytes in the blob store)::

    v          1                          format version
    s          [int, ...]                 S_{t+1} (oracle's next state; a reset state on done)
    a          int                        A_t
    r          int                        R_{t+1} (fixed point)
    done       bool                       the step ended the episode (terminated or truncated)
    ret        int                        episode return so far, including r (fixed point)
    eps        int                        ε in force (parts per 10**9)
    explored   bool                       the exploration coin fell below ε
    theta      bytes32                    θ_before: hash of the parameters that chose A_t
    theta_cid  str                        CIDv1 of θ_before (the same digest, for content stores)
    k          int                        gradient steps performed (K, or 0 before learning starts)
    after      [bytes32, bytes32, bytes32] (θ_after, Adam state, target network) after the work
    work       bytes32                    hash of the training manifest blob (per-step commits)
    mint       int                        coinbase = base + κ·clip(R, 0, R_cap) / SCALE

Verification (``verify``, in ``rlpow_verify``) runs ``rlpow_rules.validate_pace`` (block
rate), then ``validate_transition``, ``validate_mint``, ``validate_lineage``,
``validate_action`` and ``validate_training`` in that order; each raises ``InvalidBlock`` with
a message that starts with the failure's name (``reward mint is wrong``, ``transition does not
replay``, ``reward does not replay``, ``training lineage broken``, ``parameters unavailable``,
``action disagrees with the committed policy``, ``training steps do not reproduce``, ...).
The minibatch seed covers the block's tx root; proofs are judged as the proposer's registered
platform (``rlpow_rules``); an audit that fails leaves a fraud proof for the peer layer to
publish and convicts the proposer (``rlpow_fraud``). Proposing (``prepare``, ``seal``) is in
``rlpow_propose``; parameters and coins live in ``rlpow_params``, the derived records and the
manifest in ``rlpow_records``.
"""


from __future__ import annotations

import os
from collections import OrderedDict
from contextlib import nullcontext
from typing import Any

from learnchain.consensus.base import ConsensusEngine, ConsensusParams
from learnchain.consensus.rlpow_params import (  # re-exported: the engine's public names
    DEVNET_RLPOW_PARAMS,
    FORMAT_VERSION,
    HEADER_KEYS,
    MAX_K,
    PARAM_RANGES,
    REPLAY_MODES,
    coin_seed,
    default_rlpow_params,
    env_seed,
    exploration_coin,
    init_seed,
    mint_for,
    schedule_of,
    training_seed,
)
from learnchain.consensus.rlpow_propose import ProposeMixin
from learnchain.consensus.rlpow_records import (
    BlockRecord,
    LineageEntry,
    Manifest,
    _BranchBuffer,
    _is_int,
    _Pending,
    _triple,
)
from learnchain.consensus.rlpow_rules import (
    DEFAULT_DRIFT_MEAN_PPB,
    DriftLedger,
    PlatformRegistry,
    earliest_timestamp,
)
from learnchain.consensus.rlpow_uncles import DESIGNS, UncleInfo, UnclesMixin
from learnchain.consensus.rlpow_verify import VerifyMixin
from learnchain.core.errors import ConfigError, InvalidBlock
from learnchain.core.types import Block, BlockHeader
from learnchain.ml import dqn, envs
from learnchain.ml.fixedpoint import PPB, SCALE
from learnchain.storage.blobstore import BlobError, BlobStore, cid_of_digest

__all__ = ["DEVNET_RLPOW_PARAMS", "FORMAT_VERSION", "HEADER_KEYS", "MAX_K", "PARAM_RANGES",
           "REPLAY_MODES", "BlockRecord", "LineageEntry", "Manifest", "RLPowEngine",
           "coin_seed", "default_rlpow_params", "env_seed", "exploration_coin", "init_seed",
           "mint_for", "schedule_of", "training_seed"]


class RLPowEngine(ProposeMixin, VerifyMixin, UnclesMixin, ConsensusEngine):
    """Node-local rlpow engine: verifies blocks and, for its node's key, acts and trains.

    engine_config (static, in genesis): ``env`` (oracle name), ``dqn`` (DQNConfig fields:
    ``hidden``, ``batch_size``, ``gamma_ppb``, ``lr_ppb``, ...), ``replay`` (``"shared"``: the
    whole chain is the replay buffer; ``"own"``: a proposer trains only on its own blocks'
    transitions), ``distance_threshold_ppb`` (relative-L2 tolerance of a replayed step under
    foreign ComputeSettings) and ``tie_tolerance_ppb`` (how close two Q-values must be for a
    foreign platform's argmax to count as a tie), ``design`` (``"lineage"``: each proposer
    trains its own learner; ``"uncles"``: one shared learner that merges every node's work,
    see ``rlpow_uncles``), ``max_uncles`` and ``uncle_reward_ppb``.
    """

    name = "rlpow"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config = dict(config or {})
        known = {"env", "dqn", "replay", "distance_threshold_ppb", "tie_tolerance_ppb",
                 "platforms", "drift_mean_ppb", "design", "max_uncles", "uncle_reward_ppb"}
        unknown = set(self.config) - known
        if unknown:
            raise ConfigError(f"genesis engine_config: unknown rlpow key(s) "
                              f"{', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
        try:
            self.env_name: str = str(self.config.get("env", "CartPole-v1"))
            self.env = envs.make_env(self.env_name)
            hyper = dict(self.config.get("dqn", {}))
            if "hidden" in hyper:
                hyper["hidden"] = tuple(hyper["hidden"])
            self.hyper = dqn.DQNConfig(**hyper)
            self.spec = dqn.NetSpec(self.env.obs_dim, self.env.n_actions,
                                    tuple(self.hyper.hidden))
            self.replay: str = str(self.config.get("replay", "shared"))
            if self.replay not in REPLAY_MODES:
                raise ValueError(f"replay must be one of {REPLAY_MODES}, got {self.replay!r}")
            self.threshold = int(self.config.get("distance_threshold_ppb", 100_000)) / PPB
            self.tie_tolerance = int(self.config.get("tie_tolerance_ppb", 10_000)) / PPB
            self.platforms = PlatformRegistry.from_config(self.config.get("platforms"))
            drift_mean = int(self.config.get("drift_mean_ppb", DEFAULT_DRIFT_MEAN_PPB)) / PPB
            self.design: str = str(self.config.get("design", "lineage"))
            if self.design not in DESIGNS:
                raise ValueError(f"design must be one of {DESIGNS}, got {self.design!r}")
            self.max_uncles = int(self.config.get("max_uncles", 7))
            self.uncle_reward_ppb = int(self.config.get("uncle_reward_ppb", 875_000_000))
            if not 0 <= self.max_uncles <= 64 or not 0 <= self.uncle_reward_ppb <= PPB:
                raise ValueError("max_uncles must be in [0, 64], uncle_reward_ppb in [0, 1e9]")
            if self.design == "uncles" and self.replay != "shared":
                raise ValueError("design 'uncles' trains one learner on the shared history")
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"genesis engine_config for rlpow: {exc}") from None
        dqn.configure_determinism()
        current = dqn.ComputeSettings.current()  # plain str fields: cheap equality checks
        self.compute = dqn.ComputeSettings(**{k: v if isinstance(v, int) else str(v)
                                              for k, v in current.to_record().items()})
        # Node-local, not consensus: audit randomness the prover cannot predict or grind.
        self.audit_salt: bytes = os.urandom(16)
        # Node-local: keep every intermediate training blob of its own blocks so peers can
        # audit any step (False only for single-node experiments with no peers).
        self.retain_intermediate = True
        # Node-local: also write those intermediate blobs to SQLite (an archival node that can
        # serve audits of old blocks to syncing peers). When False they live only in the
        # bounded in-memory cache of recent blobs, which serves gossip.
        self.archive_work = True
        # Node-local: the blobs of this node's recent work by digest, oldest first (what
        # peers auditing its blocks will ask for, archived or not).
        self.recent_limit_bytes = 64 << 20
        self._recent: OrderedDict[bytes, bytes] = OrderedDict()
        self._recent_bytes = 0
        # Node-local: skip re-auditing blocks this engine sealed itself.
        self.trust_own_blocks = True
        # Node-local (sync from pruned peers, consensus/rlpow_pruning.py): blocks at or below
        # `light_below` whose blobs are unavailable get the checks that read no blob.
        # `light_depth` (None: never) sets it from the headers peers show.
        self.light_depth: int | None = None
        self.light_below = 0
        self.chain: Any = None
        self.blobs = BlobStore()
        self._records: dict[bytes, BlockRecord] = {}
        self._buffers: dict[bytes | None, _BranchBuffer] = {}
        self._pending: dict[tuple[bytes, bytes], _Pending] = {}
        self._own: set[bytes] = set()
        self._init_cache: dict[bytes, LineageEntry] = {}
        self.stats = {"audited_steps": 0, "verified_blocks": 0}
        # Node-local: audited cross-platform drift per proposer (rlpow_rules.DriftLedger).
        self.drift = DriftLedger(drift_mean, self.threshold)
        # Fraud proofs (consensus/rlpow_fraud.py): the ones this node's audits produced, by
        # block hash (the peer layer publishes them), and the miners they convicted.
        self.found_proofs: OrderedDict[bytes, bytes] = OrderedDict()
        self.convicted: dict[bytes, bytes] = {}
        self.proven_invalid: dict[bytes, str] = {}
        self.saved_verdicts: set[bytes] = set()  # stored (consensus/rlpow_verdicts.py)
        self.saved_drift: dict[bytes, tuple[float, int]] = {}
        self.header_keys = HEADER_KEYS | ({"uncles"} if self.shares_learner else set())
        self._uncle_pool = OrderedDict()
        self._uncle_checked = OrderedDict()
        self._merges = OrderedDict()

    # ----- wiring ------------------------------------------------------------------------

    def attach(self, chain: Any) -> None:
        from learnchain.consensus.rlpow_verdicts import load_verdicts

        self.chain = chain
        self.blobs = BlobStore(chain.store.conn)
        load_verdicts(self)

    def _locked(self) -> Any:
        """The chain's lock: blob writes share its SQLite connection and must not land inside
        another thread's block transaction (a rollback there would drop them)."""
        return self.chain.lock if self.chain is not None else nullcontext()

    def _genesis_hash(self) -> bytes:
        h = self.chain.store.canonical_hash(0) if self.chain is not None else None
        if h is None:
            raise InvalidBlock("rlpow engine is not attached to a chain")
        return h

    # ----- parameters --------------------------------------------------------------------

    def default_params(self) -> dict[str, Any]:
        return default_rlpow_params()

    def validate_params(self, params: dict[str, Any]) -> None:
        for name, (low, high) in PARAM_RANGES.items():
            value = params.get(name)
            if not _is_int(value) or not low <= value <= high:
                raise ValueError(f"consensus parameter '{name}' must be an integer in "
                                 f"[{low}, {high}], got {value!r}")
        if params["eps_end_ppb"] > params["eps_start_ppb"]:
            raise ValueError("consensus parameter 'eps_end_ppb' must not exceed 'eps_start_ppb'")

    # ----- stateless header check --------------------------------------------------------

    def check_header(self, header: BlockHeader) -> None:
        f = header.engine_fields
        if set(f) != self.header_keys:
            raise InvalidBlock(f"rlpow header fields must be exactly {sorted(self.header_keys)}")
        if f["v"] != FORMAT_VERSION:
            raise InvalidBlock(f"rlpow header version {f['v']!r} is not {FORMAT_VERSION}")
        s = f["s"]
        if not isinstance(s, list) or len(s) != self.env.core_dim + 1 or not all(
                _is_int(v) for v in s):
            raise InvalidBlock(f"rlpow header 's' must be {self.env.core_dim + 1} ints "
                               f"(a {self.env_name} state)")
        for name in ("a", "r", "ret", "eps", "k", "mint"):
            if not _is_int(f[name]):
                raise InvalidBlock(f"rlpow header '{name}' must be an int")
        if not 0 <= f["a"] < self.env.n_actions:
            raise InvalidBlock(f"rlpow header action {f['a']} is not in [0, "
                               f"{self.env.n_actions})")
        if not 0 <= f["eps"] <= PPB or not 0 <= f["k"] <= MAX_K or f["mint"] < 0:
            raise InvalidBlock("rlpow header 'eps', 'k' or 'mint' out of range")
        for name in ("done", "explored"):
            if not isinstance(f[name], bool):
                raise InvalidBlock(f"rlpow header '{name}' must be a bool")
        for name in ("theta", "work"):
            if not isinstance(f[name], bytes) or len(f[name]) != 32:
                raise InvalidBlock(f"rlpow header '{name}' must be a 32-byte digest")
        try:
            _triple(f["after"])
        except ValueError:
            raise InvalidBlock("rlpow header 'after' must be three 32-byte digests") from None
        if f["theta_cid"] != cid_of_digest(f["theta"]):
            raise InvalidBlock("rlpow header 'theta_cid' is not the content id of 'theta'")
        if self.shares_learner:
            u = f["uncles"]
            if (not isinstance(u, list) or len(u) > self.max_uncles
                    or not all(isinstance(d, bytes) and len(d) == 32 for d in u)
                    or sorted(set(u)) != u):
                raise InvalidBlock(f"rlpow header 'uncles' must be at most {self.max_uncles} "
                                   "32-byte digests in ascending order")

    # ----- records, lineage, replay buffers ----------------------------------------------

    def _initial_entry(self, proposer: bytes) -> LineageEntry:
        """The coin-derived starting learner of a proposer (stored so peers need not send it)."""
        entry = self._init_cache.get(proposer)
        if entry is None:
            params = dqn.init_params(self.spec, init_seed(self._genesis_hash(), proposer))
            opt = dqn.init_opt_bytes(params, self.hyper)
            p, o = self.blobs.put(params), self.blobs.put(opt)
            entry = LineageEntry(0, p, o, p, 0)
            self._init_cache[proposer] = entry
        return entry

    def _genesis_record(self, genesis_hash: bytes) -> BlockRecord:
        return BlockRecord(self.env.reset(env_seed(genesis_hash)), 0, False, bytes(20), None, {},
                           genesis_hash)

    def record(self, block_hash: bytes) -> BlockRecord:
        """The engine's view of a stored block, rebuilt from headers if not cached (restart)."""
        rec = self._records.get(block_hash)
        if rec is not None:
            return rec
        todo: list[BlockHeader] = []
        cursor = block_hash
        while cursor not in self._records:
            header = self.chain.get_header(cursor)
            if header is None:
                raise InvalidBlock(f"rlpow: block 0x{cursor.hex()[:16]} is not stored")
            if header.height == 0:
                self._records[cursor] = self._genesis_record(cursor)
                break
            todo.append(header)
            cursor = header.parent
        for header in reversed(todo):
            parent_rec = self._records[header.parent]
            outcome = self.validate_transition(header, parent_rec)
            self._records[header.hash] = self._make_record(header, parent_rec, outcome)
        return self._records[block_hash]

    def _make_record(self, header: BlockHeader, parent_rec: BlockRecord,
                     outcome: envs.StepOutcome,
                     transition: dqn.Transition | None = None,
                     uncles: list[UncleInfo] | None = None,
                     start: LineageEntry | None = None) -> BlockRecord:
        f = header.engine_fields
        if transition is None:
            transition = dqn.Transition.from_outcome(self.env, parent_rec.state, f["a"],
                                                     outcome)
        key = self.lineage_key(header.proposer)
        if self.shares_learner and uncles is None:  # rebuilding a stored, verified block
            uncles = self.load_uncles(header)
        if self.shares_learner and start is None:
            start = self.merged_start(parent_rec, [u.after for u in uncles or []])
        previous = start if start is not None else parent_rec.lineage.get(key)
        steps = (previous.steps if previous is not None else 0) + f["k"]
        after = _triple(f["after"])
        lineage = {**parent_rec.lineage, key: LineageEntry(steps, *after, header.height)}
        return BlockRecord(tuple(f["s"]), f["ret"], f["done"], header.proposer, transition,
                           lineage, coin_seed(header, parent_rec.seed),
                           tuple(u.transition for u in uncles or []), start)

    def _buffer(self, owner: bytes | None, height: int,
                tip: BlockHeader | None = None) -> dqn.ReplayBuffer:
        """Replay buffer holding the canonical transitions of blocks 1..height (maybe one owner's).

        Valid because the canonical chain in the store is exactly the branch being extended
        (the chain rolls back before connecting); only the changed suffix is rescanned. `tip`,
        the header at `height`, allows the common cases (nothing new, or just `tip` new)
        without touching the store.
        """
        key = owner if self.replay == "own" else None
        bb = self._buffers.get(key)
        if bb is None:
            bb = self._buffers[key] = _BranchBuffer(key, dqn.ReplayBuffer(self.env.obs_dim))
        if tip is not None and tip.height == height and height > 0:
            n = len(bb.scanned)
            if n == height and bb.scanned[-1] == tip.hash:
                return bb.buf
            if n == height - 1 and (n == 0 or bb.scanned[-1] == tip.parent):
                rec = self.record(tip.hash)
                bb.scanned.append(tip.hash)
                if key is None or rec.proposer == key:
                    for tr in rec.transitions():
                        bb.heights.append(height)
                        bb.buf.append(tr)
                return bb.buf
        store = self.chain.store
        n = len(bb.scanned)
        while n > 0 and (n > height or store.canonical_hash(n) != bb.scanned[n - 1]):
            n -= 1
        del bb.scanned[n:]
        while bb.heights and bb.heights[-1] > n:
            bb.heights.pop()
        bb.buf.truncate(len(bb.heights))
        if n < height:
            for h, block_hash in store.canonical_range(n + 1, height):
                rec = self.record(block_hash)
                bb.scanned.append(block_hash)
                if key is None or rec.proposer == key:
                    for tr in rec.transitions():
                        bb.heights.append(h)
                        bb.buf.append(tr)
        return bb.buf

    def _head_if(self, header: BlockHeader) -> BlockHeader | None:
        """The chain head when it is `header`'s parent (the usual case when proposing)."""
        head = self.chain.head
        return head if head.hash == header.parent else None

    def _expected_k(self, history_len: int, cp: ConsensusParams) -> int:
        """K once the history (including this block's transition) reaches learning_starts."""
        return int(cp.params["K"]) if history_len >= int(cp.params["learning_starts"]) else 0

    def _recent_proposers(self, parent: BlockHeader, cp: ConsensusParams) -> list[bytes]:
        """Proposers of `parent` and its ancestors, newest first, as many as the signer limit
        needs (genesis excluded)."""
        need = int(cp.params.get("signer_limit", 1)) - 1
        out: list[bytes] = []
        cursor: BlockHeader | None = parent
        while cursor is not None and cursor.height > 0 and len(out) < need:
            out.append(cursor.proposer)
            cursor = self.chain.get_header(cursor.parent)
        return out

    def earliest_timestamp(self, parent: BlockHeader, cp: ConsensusParams) -> int:
        """The earliest timestamp a child of `parent` may carry (the block-rate rule)."""
        return earliest_timestamp(parent, cp.params)

    def check_governed(self, header: BlockHeader, cp: ConsensusParams) -> None:
        super().check_governed(header, cp)
        block = self.convicted.get(header.proposer)
        if block is not None:
            raise InvalidBlock(f"proposer 0x{header.proposer.hex()} is banned as a miner: a "
                               f"fraud proof convicted its block 0x{block.hex()[:16]}")

    # ----- rewards, fork metrics, sidecar ------------------------------------------------

    def reward(self, header: BlockHeader, cp: ConsensusParams) -> int:
        return mint_for(header.engine_fields["r"], cp.params)

    def fork_reward(self, header: BlockHeader) -> int:
        r = header.engine_fields.get("r", 0)
        return r if _is_int(r) else 0

    def work(self, header: BlockHeader) -> int:
        k = header.engine_fields.get("k", 0)
        return max(1, k) if _is_int(k) else 1

    def sidecar(self, block: Block, limit: int | None = None) -> dict[str, bytes]:
        """The block's own work blobs (``_own_sidecar``) and, design=uncles, its uncles'."""
        out = self._own_sidecar(block, limit)
        if self.shares_learner and block.header.engine_fields.get("uncles"):
            with self._locked():
                for digest in block.header.engine_fields["uncles"]:
                    data = self.blob(digest)
                    if data is not None:
                        out[cid_of_digest(digest)] = data
                        out.update(self._own_sidecar(Block.decode(data), limit))
        return out

    def _own_sidecar(self, block: Block, limit: int | None = None) -> dict[str, bytes]:
        """The manifest, θ_before and every blob the manifest names (what any verifier may
        choose to audit). When those exceed `limit` bytes, only the manifest and θ_before:
        each peer then fetches the few blobs its own audits read (``missing_blobs``)."""
        f = block.header.engine_fields
        out: dict[str, bytes] = {}
        work, theta = f.get("work"), f.get("theta")
        if not isinstance(work, bytes) or len(work) != 32:
            return out
        with self._locked():
            data = self.blobs.get(work)
            if data is None:
                return out
            out[cid_of_digest(work)] = data
            if isinstance(theta, bytes) and len(theta) == 32:
                blob = self.blob(theta)
                if blob is not None:
                    out[cid_of_digest(theta)] = blob
            essentials = dict(out)
            size = sum(len(b) for b in out.values())
            try:
                manifest = Manifest.from_bytes(data)
            except InvalidBlock:
                return out
            for commit in (manifest.start, *manifest.steps):
                for digest in commit:
                    cid = cid_of_digest(digest)
                    if cid not in out:
                        blob = self.blob(digest)
                        if blob is not None:
                            out[cid] = blob
                            size += len(blob)
                            if limit is not None and size > limit:
                                return essentials
        return out

    def accept_sidecar(self, blobs: dict[str, bytes]) -> None:
        with self._locked():
            for cid, data in blobs.items():
                try:
                    self.blobs.put_verified(cid, data)
                except BlobError as exc:
                    raise InvalidBlock(f"sidecar: {exc}") from None

    # ----- views for explorers, experiments and the CLI ----------------------------------

    def greedy_params(self, block_hash: bytes) -> bytes | None:
        """θ_after of a block: the canonical chain's current policy when it is the head."""
        header = self.chain.get_header(block_hash)
        if header is None or header.height == 0:
            return None
        return self.blobs.get(header.engine_fields["after"][0])

    def row(self, header: BlockHeader) -> dict[str, Any]:
        """S, A, R and the running return of one block, for `chain show` and explorers.

        ``S`` is the recorded state as stored (fixed-point ints for CartPole, plain ints for
        Inventory; the last component is the episode clock ``t``); ``features`` is what the
        Q-network sees, in real units. R and the return are in reward units.
        """
        f = header.engine_fields
        if header.height == 0 or set(f) != self.header_keys:  # genesis: S_0 is not recorded
            return {"height": header.height, "S": None, "t": None, "features": None,
                    "A": None, "R": None, "return": None, "done": None, "explored": None,
                    "k": None, "mint": None, "theta": None}
        state = tuple(f["s"])
        return {"height": header.height, "S": list(state), "t": state[-1],
                "features": [v / SCALE for v in self.env.observe(state)], "A": f["a"],
                "R": f["r"] / SCALE, "return": f["ret"] / SCALE, "done": f["done"],
                "explored": f["explored"], "k": f["k"], "mint": f["mint"],
                "theta": f["theta_cid"]}
