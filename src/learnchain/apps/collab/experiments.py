"""The two headline experiments, run through the real `collab` app block by block.

* `good_bad`: the reference's stakeable simulation — a good agent and a bad agent (labels
  flipped, larger deposits, less frequent) add data over simulated days; each refunds its own
  data after 1 day when the model agrees, takes others' deposits (proportionally once the
  model disagrees, everything after 9 days). We record balances and the on-chain model's
  accuracy on a hidden test set.
* `market`: a prediction market with 3 good and 2 bad agents: the provider commits to a test
  set, contributors stake on their data, the provider reveals, the chain pays out.

Data: scikit-learn's bundled breast-cancer set (no download), each of its 30 measurements
binned into 8 quantile bins, so a sample is a list of 30 feature indices for the sparse
perceptron — the same model family the reference uses for IMDB reviews.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from learnchain.apps.collab import mechanisms as mech
from learnchain.apps.collab.agents import DAY_S, Agent, LocalChain, TxFailed, agent_keys
from learnchain.apps.collab.models import DictStore, SparsePerceptron

COIN = 10**6
"""Money unit of the plots: balances are integers in millionths of a coin."""

Sample = tuple[list[int], int]


@dataclass
class Dataset:
    init: list[Sample]
    pool: list[Sample]
    test: list[Sample]


def breast_cancer(seed: int = 0, bins: int = 8, init_fraction: float = 0.08,
                  test_fraction: float = 0.2) -> Dataset:
    """Binned breast-cancer samples split into initial training, contributor pool and test."""
    import numpy as np
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    x, y = data.data, data.target
    cuts = np.quantile(x, np.linspace(0, 1, bins + 1)[1:-1], axis=0)
    samples = [([f * bins + int(np.searchsorted(cuts[:, f], row[f], side="right"))
                 for f in range(x.shape[1])], int(label)) for row, label in zip(x, y, strict=True)]
    random.Random(seed).shuffle(samples)
    n_test = int(len(samples) * test_fraction)
    n_init = int(len(samples) * init_fraction)
    return Dataset(samples[n_test:n_test + n_init], samples[n_test + n_init:], samples[:n_test])


def _initial_model(init: list[Sample]) -> SparsePerceptron:
    """Trained off-chain on the small initial portion, then deployed (export → create)."""
    model = SparsePerceptron({"intercept": 0, "learning_rate": 10**9}, DictStore())
    for x, y in init:
        model.update(x, y)
    return model


def _accuracy_ppm(chain: LocalChain, model_id: int, test: list[Sample]) -> int:
    result = chain.query("evaluate", {"model_id": model_id, "data": [x for x, _ in test],
                                      "labels": [y for _, y in test]})
    return int(result["accuracy_ppm"])


# ===== good agent vs bad agent (stakeable) ===============================================


@dataclass
class GoodBadConfig:
    """The reference's IMDB-perceptron agents, in coin units of 10^6 (see `COIN`)."""

    days: int = 14
    seed: int = 0
    start_balance: int = 10_000 * COIN
    good_deposit: tuple[int, int] = (50 * COIN, 10 * COIN)
    bad_deposit: tuple[int, int] = (100 * COIN, 3 * COIN)
    good_wait_s: int = 10 * 60
    bad_wait_s: int = 60 * 60
    cost_weight: int = COIN // 10
    refund_wait_s: int = DAY_S
    take_wait_s: int = 9 * DAY_S
    check_every_s: int = 6 * 3600
    sample_every_s: int = 6 * 3600


def run_good_bad(out_dir: Path | None, config: GoodBadConfig | None = None) -> dict[str, Any]:
    """Simulate, write `collab_good_bad.{json,png}` into `out_dir`, return the summary."""
    cfg = config or GoodBadConfig()
    rng = random.Random(cfg.seed)
    data = breast_cancer(cfg.seed)
    keys = agent_keys(["owner", "good", "bad"], seed=b"collab-good-bad")
    chain = LocalChain({k.address: cfg.start_balance for k in keys.values()})
    t0 = chain.time
    chain.call(keys["owner"], "create_model", {
        "model": _initial_model(data.init).export(), "mechanism": "stakeable",
        "name": "breast-cancer", "mechanism_params": {
            "refund_wait_s": cfg.refund_wait_s, "owner_wait_s": cfg.take_wait_s,
            "any_wait_s": cfg.take_wait_s, "cost_weight": cfg.cost_weight}})
    agents = [
        Agent("good", keys["good"], True, *cfg.good_deposit, cfg.good_wait_s,
              rng=random.Random(rng.getrandbits(64))),
        Agent("bad", keys["bad"], False, *cfg.bad_deposit, cfg.bad_wait_s,
              rng=random.Random(rng.getrandbits(64))),
    ]
    for agent in agents:
        agent.schedule(t0)
    contributions: list[dict[str, Any]] = []       # the public record, mirrored off-chain
    claimed: dict[str, set[int]] = {a.name: set() for a in agents}
    counts = {f"{a.name}_{what}": 0 for a in agents
              for what in ("adds", "skipped", "refunds", "takes")}
    series: list[dict[str, int]] = []
    end = t0 + cfg.days * DAY_S
    next_check, next_sample = t0 + cfg.check_every_s, t0

    def sample_point(now: int) -> None:
        point = {"t": now - t0, "accuracy_ppm": _accuracy_ppm(chain, 0, data.test)}
        for a in agents:
            point[a.name] = chain.balance(a.address)
        series.append(point)

    while True:
        now = min(next_check, next_sample, *(a.next_time for a in agents))
        if now > end:
            break
        chain.set_time(now)
        for agent in agents:
            if agent.next_time == now:
                _add(chain, agent, data.pool, contributions, counts)
                agent.schedule(now)
        if now == next_check:
            for agent in agents:
                _claims(chain, agent, now, cfg, contributions, claimed[agent.name], counts)
            next_check += cfg.check_every_s
        if now == next_sample:
            sample_point(now)
            next_sample += cfg.sample_every_s

    locked = dict.fromkeys((a.name for a in agents), 0)   # own deposits still in escrow
    for c in contributions:
        locked[c["author"]] += chain.query("contribution", {"model_id": 0,
                                                            "contribution": c["id"]})["claimable"]
    summary = {
        "experiment": "good-bad", "config": asdict(cfg), "days": cfg.days,
        "initial_accuracy_ppm": series[0]["accuracy_ppm"],
        "final_accuracy_ppm": series[-1]["accuracy_ppm"],
        "min_accuracy_ppm": min(p["accuracy_ppm"] for p in series),
        "mean_accuracy_ppm": sum(p["accuracy_ppm"] for p in series) // len(series),
        "good_profit": series[-1]["good"] - cfg.start_balance,
        "bad_profit": series[-1]["bad"] - cfg.start_balance,
        "good_locked": locked["good"], "bad_locked": locked["bad"],
        # net = profit + own deposits still claimable (not yet refunded or taken)
        "good_net": series[-1]["good"] + locked["good"] - cfg.start_balance,
        "bad_net": series[-1]["bad"] + locked["bad"] - cfg.start_balance,
        "escrow_left": chain.escrow(0), **counts, "blocks": chain.chain.height,
    }
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "collab_good_bad.json").write_text(
            json.dumps({"summary": summary, "series": series}, indent=1) + "\n")
        _plot_good_bad(out_dir / "collab_good_bad.png", series, summary)
    return summary


def _add(chain: LocalChain, agent: Agent, pool: list[Sample],
         contributions: list[dict[str, Any]], counts: dict[str, int]) -> None:
    x, y = pool[agent.rng.randrange(len(pool))]
    label = agent.label_for(y)
    budget = agent.deposit_budget()
    required = chain.query("deposit_cost", {"model_id": 0, "now": chain.time})
    if required > budget:
        counts[f"{agent.name}_skipped"] += 1
        return
    result = chain.call(agent.key, "add_data", {"model_id": 0, "data": x, "label": label,
                                                "deposit": budget})
    contributions.append({"id": result["contribution"], "author": agent.name, "data": x,
                          "label": label, "time": result["time"]})
    counts[f"{agent.name}_adds"] += 1


def _claims(chain: LocalChain, agent: Agent, now: int, cfg: GoodBadConfig,
            contributions: list[dict[str, Any]], claimed: set[int],
            counts: dict[str, int]) -> None:
    """Refund own data the model agrees with; take others' bad or abandoned deposits."""
    good = next((r["good"] for r in chain.query("contributors", {"model_id": 0})
                 if r["address"] == agent.address), 0)
    batch: list[tuple[str, Any]] = []
    for c in contributions:
        age = now - c["time"]
        if c["id"] in claimed or age < cfg.refund_wait_s:
            continue
        record = chain.query("contribution", {"model_id": 0, "contribution": c["id"]})
        if record["claimable"] == 0:
            claimed.add(c["id"])
            continue
        agrees = chain.query("prediction", {"model_id": 0, "data": c["data"]}) == c["label"]
        if c["author"] == agent.name:
            if agrees:
                batch.append(("refund", c["id"]))
        elif age >= cfg.take_wait_s or (not agrees and good > 0):
            batch.append(("report", c["id"]))
    txs = [(what, cid, chain.submit(agent.key, what, {"model_id": 0, "contribution": cid}))
           for what, cid in batch]
    if not txs:
        return
    receipts = chain.block()
    for what, cid, tx in txs:
        if receipts[tx.hash].success:  # a refused claim is simply tried again later
            claimed.add(cid)
            counts[f"{agent.name}_{'refunds' if what == 'refund' else 'takes'}"] += 1


def _plot_good_bad(path: Path, series: list[dict[str, int]], summary: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    days = [p["t"] / DAY_S for p in series]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 7), sharex=True)
    top.plot(days, [p["good"] / COIN for p in series], label="good agent", color="tab:green")
    top.plot(days, [p["bad"] / COIN for p in series], label="bad agent (labels flipped)",
             color="tab:red")
    top.set_ylabel("balance (coins)")
    top.set_title("Deposit, refund and take: balances")
    top.legend()
    top.grid(alpha=0.3)
    accuracy = [p["accuracy_ppm"] / 10_000 for p in series]
    window = max(1, sum(1 for p in series if p["t"] < DAY_S))     # samples per day
    rolling = [sum(accuracy[max(0, i - window + 1):i + 1]) / len(accuracy[max(0, i - window
               + 1):i + 1]) for i in range(len(accuracy))]
    bottom.plot(days, accuracy, color="tab:blue", alpha=0.35, linewidth=1, label="sampled")
    bottom.plot(days, rolling, color="tab:blue", linewidth=2.2, label="1-day average")
    bottom.legend(loc="lower right")
    bottom.set_ylabel("accuracy on hidden test set (%)")
    bottom.set_xlabel("simulated days")
    bottom.set_ylim(0, 100)
    bottom.grid(alpha=0.3)
    bottom.set_title(f"Model accuracy (start {summary['initial_accuracy_ppm'] / 10_000:.1f}%, "
                     f"mean {summary['mean_accuracy_ppm'] / 10_000:.1f}%, "
                     f"end {summary['final_accuracy_ppm'] / 10_000:.1f}%)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ===== prediction market =================================================================


@dataclass
class MarketConfig:
    """3 good and 2 bad agents; stakes and bounty in indivisible units (1 unit = 1 round)."""

    seed: int = 0
    good_agents: int = 3
    bad_agents: int = 2
    contributions_each: int = 40
    stake: int = 100
    bounty: int = 10_000
    pieces: int = 5
    group_contributions: bool = True
    reset_model: bool = True
    start_balance: int = 100_000


def run_market(out_dir: Path | None, config: MarketConfig | None = None) -> dict[str, Any]:
    """Run one market through the chain; write `collab_market.{json,png}`; return summary."""
    cfg = config or MarketConfig()
    rng = random.Random(cfg.seed)
    data = breast_cancer(cfg.seed)
    names = ([f"good{i + 1}" for i in range(cfg.good_agents)]
             + [f"bad{i + 1}" for i in range(cfg.bad_agents)])
    keys = agent_keys(["owner", "provider", *names], seed=b"collab-market")
    chain = LocalChain({k.address: cfg.start_balance for k in keys.values()})
    everyone = [k.address for k in keys.values()]
    total_before = sum(chain.balance(a) for a in everyone)
    chain.call(keys["owner"], "create_model", {
        "model": _initial_model(data.init).export(), "mechanism": "market",
        "name": "breast-cancer-market", "mechanism_params": {
            "group_contributions": cfg.group_contributions, "reset_model": cfg.reset_model,
            "allow_greater_deposit": True, "min_contributions": 1, "any_wait_s": DAY_S}})
    pieces = mech.split_test_set([x for x, _ in data.test], [y for _, y in data.test],
                                 cfg.pieces)
    opened = chain.call(keys["provider"], "market_open", {
        "model_id": 0, "bounty": cfg.bounty, "hashes": [mech.piece_hash(p) for p in pieces]})
    assert opened["model_id"] == 0
    chain.block()          # the block whose end draws the piece to reveal early
    early = chain.query("market", {"model_id": 0})["reveal_index"]
    chain.call(keys["provider"], "market_reveal_early", {"model_id": 0, "piece": pieces[early]})

    agents = {name: Agent(name, keys[name], name.startswith("good"),
                          rng=random.Random(rng.getrandbits(64))) for name in names}
    order = [name for name in names for _ in range(cfg.contributions_each)]
    rng.shuffle(order)
    stakes = dict.fromkeys(names, 0)
    for i, name in enumerate(order):
        chain.set_time(chain.time + 60)
        x, y = data.pool[rng.randrange(len(data.pool))]
        chain.submit(keys[name], "add_data", {"model_id": 0, "data": x,
                                              "label": agents[name].label_for(y),
                                              "deposit": cfg.stake})
        stakes[name] += cfg.stake
        if i % 50 == 49 or i == len(order) - 1:
            assert all(r.success for r in chain.block().values())
    initial_accuracy = _accuracy_ppm(chain, 0, data.test)
    chain.call(keys["provider"], "market_end", {"model_id": 0})
    outcome: dict[str, Any] = {}
    for index, piece in enumerate(pieces):
        if index != early:
            outcome = chain.call(keys["provider"], "market_reveal",
                                 {"model_id": 0, "index": index, "piece": piece})["outcome"]
    payouts = {name: 0 for name in names}
    for name in names:
        try:
            payouts[name] = chain.call(keys[name], "refund", {"model_id": 0})["amount"]
        except TxFailed:
            payouts[name] = 0
    final_accuracy = _accuracy_ppm(chain, 0, data.test)
    total_after = sum(chain.balance(a) for a in everyone) + chain.escrow(0)
    # Anyone can replay the reward phase off-chain from public data; we do, to draw the
    # balance history (large markets keep only pass summaries on-chain) and as a check.
    by_address = {keys[n].address: n for n in names}
    records = [chain.query("contribution", {"model_id": 0, "contribution": i})
               for i in range(len(order))]
    author_of = [by_address[r["author"]] for r in records]
    hidden = [pair for i, piece in enumerate(pieces) if i != early for pair in piece]
    replay = mech.compute_market_rewards(
        lambda: _initial_model(data.init),
        [mech.MarketEntry(r["author"], r["data"], r["label"], r["deposit"]) for r in records],
        [x for x, _ in hidden], [y for _, y in hidden], cfg.bounty,
        mech.MarketOptions(group_contributions=cfg.group_contributions,
                           reset_model=cfg.reset_model))
    assert {a.hex(): v for a, v in replay.payouts.items()} == outcome["payouts"]
    passes = [p.to_plain() for p in replay.passes]
    hex_names = {keys[n].address.hex(): n for n in names}
    history = _market_history(passes, author_of, hex_names, names, cfg, outcome["test_size"])
    summary = {
        "experiment": "market", "config": asdict(cfg),
        "initial_accuracy_ppm": initial_accuracy, "final_accuracy_ppm": final_accuracy,
        "hidden_test_size": outcome["test_size"],
        "stakes": stakes, "payouts": payouts,
        "profit": {n: payouts[n] - stakes[n] for n in names},
        "provider_refund": outcome["provider_refund"],
        "provider_profit": outcome["provider_refund"] - cfg.bounty,
        "passes": len(passes),
        "rounds_used": sum(p["ticks"] for p in passes) / mech.TICKS_PER_ROUND,
        "survivors": outcome["survivors"], "zero_sum": total_after == total_before,
    }
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "collab_market.json").write_text(
            json.dumps({"summary": summary, "history": history}, indent=1) + "\n")
        _plot_market(out_dir / "collab_market.png", history, summary, names)
    return summary


def _market_history(passes: list[dict[str, Any]], author_of: list[str],
                    hex_names: dict[str, str], names: list[str], cfg: MarketConfig,
                    n_test: int) -> list[dict[str, Any]]:
    """Each author's balance (in stake units) after each pass, rebuilt from the scores."""
    balance = {name: cfg.stake * author_of.count(name) * n_test for name in names}
    rounds = 0.0
    history = [{"rounds": 0.0, **{n: balance[n] / n_test for n in names}}]
    for p in passes:
        for participant, score in p["scores"].items():
            # grouped markets score authors (hex address), others single contributions
            name = hex_names.get(participant) or author_of[int(participant)]
            balance[name] += score * p["ticks"] / mech.TICKS_PER_ROUND
        rounds += p["ticks"] / mech.TICKS_PER_ROUND
        history.append({"rounds": rounds, **{n: balance[n] / n_test for n in names}})
    return history


def _plot_market(path: Path, history: list[dict[str, Any]], summary: dict[str, Any],
                 names: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    for name in names:
        color = "tab:green" if name.startswith("good") else "tab:red"
        left.plot([h["rounds"] for h in history], [h[name] for h in history], marker="o",
                  label=name, color=color, alpha=0.5 + 0.15 * (names.index(name) % 3))
    left.set_xlabel("bounty rounds simulated")
    left.set_ylabel("market balance (units)")
    left.set_title("Prediction market: balances through the reward phase")
    left.legend()
    left.grid(alpha=0.3)
    profits = [summary["profit"][n] for n in names]
    right.bar(names, profits, color=["tab:green" if n.startswith("good") else "tab:red"
                                     for n in names])
    right.axhline(0, color="black", linewidth=0.8)
    right.set_ylabel("payout − stake (units)")
    right.set_title(f"Profit per agent (accuracy {summary['initial_accuracy_ppm'] / 1e4:.1f}%"
                    f" → {summary['final_accuracy_ppm'] / 1e4:.1f}%)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def default_output() -> Path:
    return Path("docs/experiments")
