"""Training proofs: K committed DQN steps, single-step replay, audits, threshold calibration.

Split out of ``learnchain.ml.dqn`` (which re-exports every name).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from learnchain.ml.coins import coin_below, coin_stream, hash_parts
from learnchain.ml.dqn_learner import DQNConfig, LearnerState, StepCommit, _Learner
from learnchain.ml.dqn_params import (
    ComputeSettings,
    NetSpec,
    VerificationError,
    _flat_of,
    _Layout,
    _sha,
    init_opt_bytes,
    opt_distance,
    param_distance,
    spec_from_bytes,
)
from learnchain.ml.replay import ReplayBuffer, Transition, _as_buffer


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
    steps: Sequence[StepCommit]
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
    (seed, C, step counter) and that ``proof.blobs`` hash to their ids: ``verify_proof``
    checks both first, and the engine's callers read blobs from the self-verifying store or
    a hash-checked fraud proof.
    """
    st = proof.settings
    before = proof.state_before(j)
    claimed = proof.steps[j]
    i = st.step_counter_start + j
    if claimed.step != i:
        raise VerificationError(f"commit {j} names step {claimed.step}, expected {i}")
    after = replay_step(before.params, before.target, history, i, st.seed, hyper, C=st.C,
                        opt_bytes=before.opt)
    exact = threshold is None or st.compute == ComputeSettings.current()
    params_hash = _sha(after.params)
    if exact and params_hash != claimed.params_hash:  # the usual fraud: no need to hash on
        raise VerificationError(f"step {i}: replayed params hash differs from proof")
    prior = proof.start if j == 0 else proof.steps[j - 1]
    # between target syncs the target bytes are the input's, whose hash the proof commits
    target_hash = (prior.target_hash if after.target == before.target
                   else _sha(after.target))
    got = StepCommit(i, params_hash, _sha(after.opt), target_hash)
    if got == claimed:
        return 0.0
    if exact:
        which = [name for name, a, b in (
            ("params", got.params_hash, claimed.params_hash),
            ("optimiser state", got.opt_hash, claimed.opt_hash),
            ("target", got.target_hash, claimed.target_hash)) if a != b]
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
