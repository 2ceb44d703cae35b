"""The learned governance engine: the DQN of Figures 19-20 on the governed-PoW environment.

``engine(b) = (validate ∘ π ∘ preprocess)(b)`` (§8.1): ``features.preprocess`` builds the
3k(+2) inputs, a Q-network with hidden layers and |A| = 5 outputs is π, and the §8.8
validator (in the env, and in live mode) maps refused actions to no-ops.

No second DQN is written here: the network, coin-seeded initialisation, experience replay,
ε-greedy selection, the linear ε decay and the gradient step are ``learnchain.ml.dqn`` (the
rlpow engine's learner).  We chose it over Stable-Baselines3 because it is already in the
tree and tested, every random choice comes from SHA-256 coins (so a training run repeats
bit for bit single-threaded, which SB3 only promises per platform), and its canonical
parameter bytes give the checkpoint a content hash for free.  The loss is the §8.6 squared
error (``loss="mse"``) and the target network is optional (``target_period=1`` copies the
online network after every step, i.e. no target network).
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from learnchain.governance.env import EnvConfig, GovernedPowEnv
from learnchain.governance.features import BlockRecord, FeatureSpec, preprocess
from learnchain.governance.validation import N_ACTIONS, Bounds, ControlState
from learnchain.ml import dqn
from learnchain.ml.coins import coin_int, derive_seed, hash_parts
from learnchain.ml.fixedpoint import PPB, SCALE, to_fp, vec_to_fp


@dataclass(frozen=True)
class EngineConfig:
    """DQN hyperparameters of the engine (Figure 20 plus the usual replay knobs)."""

    hidden: tuple[int, ...] = (64, 64)
    gamma: float = 0.95
    lr: float = 5e-4
    batch_size: int = 64
    train_steps: int = 20_000  # environment steps (blocks) of training
    learning_starts: int = 500
    train_every: int = 4  # env steps between gradient phases
    grad_steps: int = 2  # gradient steps per phase
    target_period: int = 250  # gradient steps between target syncs; 1 = no target network
    eps_start: float = 1.0
    eps_end: float = 0.05
    eps_fraction: float = 0.6  # share of train_steps over which ε decays linearly

    def dqn_config(self) -> dqn.DQNConfig:
        return dqn.DQNConfig(hidden=tuple(self.hidden), batch_size=self.batch_size,
                             gamma_ppb=round(self.gamma * PPB), lr_ppb=round(self.lr * PPB),
                             loss="mse")

    def eps_schedule(self) -> dqn.EpsilonSchedule:
        return dqn.EpsilonSchedule(round(self.eps_start * PPB), round(self.eps_end * PPB),
                                   max(1, round(self.eps_fraction * self.train_steps)))


class DQNEngine:
    """A trained Q-network plus the feature spec it reads; greedy at decision time."""

    name = "engine"

    def __init__(self, params: bytes, features: FeatureSpec, config: EngineConfig,
                 meta: dict[str, Any] | None = None) -> None:
        self.params = params
        self.features = features
        self.config = config
        self.meta = dict(meta or {})
        self._net = dqn.net_from_bytes(params)
        if self._net.spec.obs_dim != features.dim or self._net.spec.n_actions != N_ACTIONS:
            raise ValueError(f"network {self._net.spec} does not fit {features.dim} features "
                             f"and {N_ACTIONS} actions")

    @property
    def params_hash(self) -> str:
        return hashlib.sha256(self.params).hexdigest()

    def reset(self) -> None:
        return None

    def q(self, blocks: Sequence[BlockRecord], miners: int) -> list[float]:
        obs = preprocess(blocks, self.features, miners)
        return dqn.q_values(self._net, vec_to_fp(obs.tolist()))

    def decide(self, blocks: Sequence[BlockRecord], state: ControlState) -> int:
        """π(preprocess(b)): the greedy action (validation is the caller's next step)."""
        return dqn.greedy_action(self.q(blocks, state.miners))

    # -- checkpoint ---------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"format": "learnchain-governance-engine/v1",
                "params": base64.b64encode(self.params).decode(),
                "params_hash": self.params_hash, "features": asdict(self.features),
                "config": {**asdict(self.config), "hidden": list(self.config.hidden)},
                "meta": self.meta}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DQNEngine:
        if data.get("format") != "learnchain-governance-engine/v1":
            raise ValueError("not a governance engine file (format mismatch)")
        params = base64.b64decode(data["params"])
        if hashlib.sha256(params).hexdigest() != data["params_hash"]:
            raise ValueError("engine file is corrupt: parameter hash mismatch")
        cfg = dict(data["config"])
        cfg["hidden"] = tuple(cfg["hidden"])
        return cls(params, FeatureSpec(**data["features"]), EngineConfig(**cfg), data["meta"])

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_json()))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> DQNEngine:
        return cls.from_json(json.loads(Path(path).read_text()))


@dataclass
class TrainLog:
    """What a training run did: episode returns and lengths, wall time, settings record."""

    episode_returns: list[float] = field(default_factory=list)
    episode_lengths: list[int] = field(default_factory=list)
    invalid_actions: int = 0
    wall_s: float = 0.0
    grad_steps: int = 0
    compute: dict[str, Any] = field(default_factory=dict)


def train_engine(env_cfg: EnvConfig, cfg: EngineConfig, seed: int,
                 progress: Callable[[int], None] | None = None) -> tuple[DQNEngine, TrainLog]:
    """Figure 20: ε-greedy episodes on the environment, replay, squared-error DQN steps.

    Everything random is seeded from ``seed``: network init and minibatches from coins on
    ``seed_bytes``, exploration from coins per step, the simulator from numpy seeds; with
    one torch thread the returned parameters are identical on every run.
    """
    dqn.configure_determinism()
    seed_bytes = hash_parts(b"governance-engine", struct.pack("<Q", seed))
    env = GovernedPowEnv(env_cfg)
    hyper = cfg.dqn_config()
    eps = cfg.eps_schedule()
    spec = dqn.NetSpec(env.spec_features.dim, N_ACTIONS, tuple(cfg.hidden))
    params = dqn.init_params(spec, hash_parts(seed_bytes, b"init"))
    target, opt = params, dqn.init_opt_bytes(params, hyper)
    buf = dqn.ReplayBuffer(spec.obs_dim, capacity=cfg.train_steps + 1)
    log = TrainLog(compute=dqn.ComputeSettings.current().to_record())
    t0 = time.perf_counter()
    episode = 0
    obs, _ = env.reset(seed=seed * 100_003 + episode)
    obs_fp = vec_to_fp(obs.tolist())
    ep_ret, ep_len = 0.0, 0
    for t in range(cfg.train_steps):
        step_seed = derive_seed(seed_bytes, t)
        action, _ = dqn.select_action(params, obs_fp, eps.eps_ppb(t),
                                      coin_int(step_seed, "eps", 0))
        nobs, reward, term, trunc, info = env.step(action)
        nobs_fp = vec_to_fp(nobs.tolist())
        buf.append(dqn.Transition(obs_fp, action, to_fp(reward), nobs_fp, bool(term)))
        ep_ret += reward
        ep_len += 1
        obs_fp = nobs_fp
        if term or trunc:
            log.episode_returns.append(ep_ret)
            log.episode_lengths.append(ep_len)
            log.invalid_actions += info["invalid_actions"]
            episode += 1
            obs, _ = env.reset(seed=seed * 100_003 + episode)
            obs_fp = vec_to_fp(obs.tolist())
            ep_ret, ep_len = 0.0, 0
        if t + 1 >= cfg.learning_starts and (t + 1) % cfg.train_every == 0:
            proof = dqn.train(params, target, buf, cfg.grad_steps, cfg.target_period,
                              log.grad_steps, step_seed, hyper, opt_bytes=opt,
                              keep_blobs=False)
            params, target, opt = proof.final_params, proof.final_target, proof.final_opt
            log.grad_steps += cfg.grad_steps
        if progress is not None:
            progress(t + 1)
    log.wall_s = time.perf_counter() - t0
    meta = {"seed": seed, "train_steps": cfg.train_steps, "episodes": episode,
            "reward_scale": SCALE, "compute": log.compute,
            "env": {k: v for k, v in asdict(env_cfg).items() if k != "bounds"},
            "bounds": asdict(env_cfg.bounds)}
    return DQNEngine(params, env.spec_features, cfg, meta), log


def bounds_from_meta(meta: dict[str, Any]) -> Bounds:
    return Bounds(**meta["bounds"]) if "bounds" in meta else Bounds()
