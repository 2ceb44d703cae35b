"""The reference's headline simulation, through the real `collab` app: a good and a bad agent.

Both add movie-review snippets (`datasets.rotten_tomatoes`) to a sparse perceptron deployed
with the reference's vocabulary encoder (1 000 words, out-of-vocabulary index 1337); the good
agent labels them correctly, the bad agent flips the labels, deposits more and adds less
often. Each refunds its own data after a day when the model agrees and takes the other's
deposits (proportionally once the model disagrees, everything after 9 days). Samples are
dealt from one shuffled deck, so no sample is ever added twice.

Each seed runs on its own chain. Besides balances and the on-chain model's accuracy on a
hidden test set, every run replays the good agent's own contributions off-chain (same
samples, same order, no bad data) as a control, so the bad agent's cost to accuracy is
measured against the same stream without it. `run_good_bad` runs several seeds and writes
`collab_good_bad.{json,png}` with 95% confidence bands and a verdict derived from the numbers.
"""

from __future__ import annotations

import json
import math
import random
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from learnchain.apps.collab.agents import DAY_S, Agent, LocalChain, agent_keys
from learnchain.apps.collab.datasets import TextDataset, rotten_tomatoes
from learnchain.apps.collab.encoders import Encoder
from learnchain.apps.collab.models import (
    DictStore,
    Model,
    NaiveBayes,
    SparsePerceptron,
    load_model,
)

COIN = 10**6
"""Money unit of the plots: balances are integers in millionths of a coin."""


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
    test_size: int = 2000
    init_size: int = 1000
    vocabulary_size: int = 1000
    model: str = "naive_bayes"
    """`naive_bayes` (default: stable on short snippets) or `sparse_perceptron` (the
    reference's choice for IMDB reviews; near chance on these snippets)."""


MODELS = ("sparse_perceptron", "naive_bayes")


def _initial_model(data: TextDataset, encoder: Encoder, kind: str) -> Model:
    """Trained off-chain on the initial portion, then deployed (export → create)."""
    model: Model
    if kind == "sparse_perceptron":
        model = SparsePerceptron({"intercept": 0, "learning_rate": 10**9,
                                  "classes": ["rotten", "fresh"]}, DictStore())
    elif kind == "naive_bayes":
        # the vocabulary plus the out-of-vocabulary index: V = size + 1 for the smoothing
        model = NaiveBayes({"classes": ["rotten", "fresh"],
                            "total_features": len(data.vocabulary) + 1}, DictStore())
    else:
        raise ValueError(f"unknown model {kind!r}; choose one of {', '.join(MODELS)}")
    for text, label in data.init:
        model.update(encoder.encode(text), label)
    return model


def run_seed(cfg: GoodBadConfig) -> dict[str, Any]:
    """One seed on its own chain: the per-seed summary and its sampled series."""
    rng = random.Random(cfg.seed)
    data = rotten_tomatoes(cfg.seed, cfg.test_size, cfg.init_size, cfg.vocabulary_size)
    spec = {"type": "vocabulary", "vocabulary": data.vocabulary}
    keys = agent_keys(["owner", "good", "bad"], seed=b"collab-good-bad")
    chain = LocalChain({k.address: cfg.start_balance for k in keys.values()})
    t0 = chain.time
    start_model = _initial_model(data, Encoder.from_plain(spec), cfg.model)
    chain.call(keys["owner"], "create_model", {
        "model": start_model.export(), "mechanism": "stakeable", "encoder": spec,
        "name": "rotten-tomatoes", "mechanism_params": {
            "refund_wait_s": cfg.refund_wait_s, "owner_wait_s": cfg.take_wait_s,
            "any_wait_s": cfg.take_wait_s, "cost_weight": cfg.cost_weight}})
    # Agents encode through the model's published encoder, as any client would.
    encoder = Encoder.from_plain(chain.query("model", {"model_id": 0})["encoder"])
    test_x = [encoder.encode(text) for text, _ in data.test]
    test_y = [label for _, label in data.test]
    deck = list(data.pool)
    rng.shuffle(deck)
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

    while True:
        now = min(next_check, next_sample, *(a.next_time for a in agents))
        if now > end:
            break
        chain.set_time(now)
        for agent in agents:
            if agent.next_time == now:
                _add(chain, agent, deck, encoder, contributions, counts)
                agent.schedule(now)
        if now == next_check:
            for agent in agents:
                _claims(chain, agent, now, cfg, contributions, claimed[agent.name], counts)
            next_check += cfg.check_every_s
        if now == next_sample:
            result = chain.query("evaluate", {"model_id": 0, "data": test_x, "labels": test_y})
            point = {"t": now - t0, "accuracy_ppm": int(result["accuracy_ppm"])}
            for a in agents:
                point[a.name] = chain.balance(a.address)
            series.append(point)
            next_sample += cfg.sample_every_s

    control = _control(start_model, contributions, series, t0, test_x, test_y)
    for point, accuracy in zip(series, control, strict=True):
        point["control_ppm"] = accuracy
    locked = dict.fromkeys((a.name for a in agents), 0)   # own deposits still in escrow
    for c in contributions:
        locked[c["author"]] += chain.query("contribution", {"model_id": 0,
                                                            "contribution": c["id"]})["claimable"]
    adds = len(contributions)
    summary = {
        "seed": cfg.seed, "days": cfg.days,
        "initial_accuracy_ppm": series[0]["accuracy_ppm"],
        "final_accuracy_ppm": series[-1]["accuracy_ppm"],
        "mean_accuracy_ppm": sum(p["accuracy_ppm"] for p in series) // len(series),
        "min_accuracy_ppm": min(p["accuracy_ppm"] for p in series),
        "control_mean_ppm": sum(control) // len(control),
        "control_final_ppm": control[-1],
        "good_profit": series[-1]["good"] - cfg.start_balance,
        "bad_profit": series[-1]["bad"] - cfg.start_balance,
        "good_locked": locked["good"], "bad_locked": locked["bad"],
        # net = profit + own deposits still claimable (not yet refunded or taken)
        "good_net": series[-1]["good"] + locked["good"] - cfg.start_balance,
        "bad_net": series[-1]["bad"] + locked["bad"] - cfg.start_balance,
        "escrow_left": chain.escrow(0), **counts, "blocks": chain.chain.height,
        "pool_size": len(data.pool), "adds": adds,
        "distinct_samples_added": len({c["text"] for c in contributions}),
    }
    return {"summary": summary, "series": series}


def _add(chain: LocalChain, agent: Agent, deck: list[tuple[str, int]], encoder: Encoder,
         contributions: list[dict[str, Any]], counts: dict[str, int]) -> None:
    budget = agent.deposit_budget()
    required = chain.query("deposit_cost", {"model_id": 0, "now": chain.time})
    if required > budget:
        counts[f"{agent.name}_skipped"] += 1
        return
    if not deck:
        raise RuntimeError("the contributor pool is exhausted: use fewer days or a smaller "
                           "test set, samples are never reused")
    text, true_label = deck.pop()
    label = agent.label_for(true_label)
    data = encoder.encode(text)
    result = chain.call(agent.key, "add_data", {"model_id": 0, "data": data, "label": label,
                                                "deposit": budget})
    contributions.append({"id": result["contribution"], "author": agent.name, "data": data,
                          "text": text, "label": label, "time": result["time"]})
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


def _control(start: Model, contributions: list[dict[str, Any]],
             series: list[dict[str, int]], t0: int, test_x: list[list[int]],
             test_y: list[int]) -> list[int]:
    """Accuracy (ppm) at each sample time of the deployed model trained off-chain on the
    good agent's contributions only, in the same order."""
    model = load_model(start.export())
    good = [c for c in contributions if c["author"] == "good"]
    out, i = [], 0
    for point in series:
        while i < len(good) and good[i]["time"] - t0 <= point["t"]:
            model.update(good[i]["data"], good[i]["label"])
            i += 1
        out.append(model.evaluate(test_x, test_y) * 1_000_000 // len(test_y))
    return out


# ===== several seeds: bands and a verdict ================================================


def mean_ci(values: list[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95% Student-t confidence interval (0 for one value)."""
    n = len(values)
    mean = statistics.fmean(values)
    if n < 2:
        return mean, 0.0
    from scipy.stats import t

    return mean, float(t.ppf(0.975, n - 1)) * statistics.stdev(values) / math.sqrt(n)


def aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Across seeds: banded series and the per-seed differences the verdict rests on."""
    series = [r["series"] for r in runs]
    summaries = [r["summary"] for r in runs]
    banded: dict[str, Any] = {"t_days": [p["t"] / DAY_S for p in series[0]]}
    for key, scale in (("accuracy_ppm", 10_000), ("control_ppm", 10_000), ("good", COIN),
                       ("bad", COIN)):
        bands = [mean_ci([s[i][key] / scale for s in series]) for i in range(len(series[0]))]
        banded[key] = {"mean": [m for m, _ in bands], "ci95": [h for _, h in bands]}

    def points(a: str, b: str) -> list[float]:
        return [(s[a] - s[b]) / 10_000 for s in summaries]

    stats = {
        "seeds": len(runs),
        "start_accuracy_pct": mean_ci([s["initial_accuracy_ppm"] / 10_000 for s in summaries]),
        "run_mean_minus_start_pts": mean_ci(points("mean_accuracy_ppm",
                                                   "initial_accuracy_ppm")),
        "end_minus_start_pts": mean_ci(points("final_accuracy_ppm", "initial_accuracy_ppm")),
        "run_mean_minus_control_pts": mean_ci(points("mean_accuracy_ppm", "control_mean_ppm")),
        "control_mean_minus_start_pts": mean_ci(points("control_mean_ppm",
                                                       "initial_accuracy_ppm")),
        "good_net_coins": mean_ci([s["good_net"] / COIN for s in summaries]),
        "bad_net_coins": mean_ci([s["bad_net"] / COIN for s in summaries]),
        "good_cash_coins": mean_ci([s["good_profit"] / COIN for s in summaries]),
        "bad_cash_coins": mean_ci([s["bad_profit"] / COIN for s in summaries]),
        "good_locked_coins": mean_ci([s["good_locked"] / COIN for s in summaries]),
        "good_ahead": sum(s["good_net"] > 0 for s in summaries),
        "bad_behind": sum(s["bad_net"] < 0 for s in summaries),
        "samples_reused": sum(s["adds"] - s["distinct_samples_added"] for s in summaries),
    }
    return {"stats": stats, "bands": banded, "verdict": verdict(stats)}


def _interval(mean_half: tuple[float, float], unit: str) -> str:
    mean, half = mean_half
    return f"{mean:+.1f} {unit} (95% CI {mean - half:+.1f} to {mean + half:+.1f})"


def _direction(mean_half: tuple[float, float], tolerance: float) -> str:
    """'falls' if the whole interval is below −tolerance, 'holds' if it is above it."""
    mean, half = mean_half
    if mean + half < -tolerance:
        return "falls"
    if mean - half > -tolerance:
        return "holds"
    return "is not distinguishable from a fall of more than "f"{tolerance:g} point"


def verdict(stats: dict[str, Any]) -> str:
    """One paragraph that says only what the intervals support (1-point tolerance)."""
    n = stats["seeds"]
    acc = stats["run_mean_minus_start_pts"]
    ctrl = stats["run_mean_minus_control_pts"]
    parts = [
        f"Over {n} seeds, accuracy {_direction(acc, 1.0)} relative to the deployed model: the "
        f"run's mean is {_interval(acc, 'points')} from its start, its end "
        f"{_interval(stats['end_minus_start_pts'], 'points')}.",
        f"Against the same good stream without the bad agent the run's mean accuracy is "
        f"{_interval(ctrl, 'points')}, so the bad agent's data "
        + ("costs accuracy." if ctrl[0] + ctrl[1] < 0 else
           "has no cost distinguishable from zero."),
        f"The good agent ends ahead in {stats['good_ahead']}/{n} seeds "
        f"(net {_interval(stats['good_net_coins'], 'coins')}), the bad agent behind in "
        f"{stats['bad_behind']}/{n} (net {_interval(stats['bad_net_coins'], 'coins')}); net "
        f"counts each agent's own deposits still in escrow. In cash at the end the good agent "
        f"is at {_interval(stats['good_cash_coins'], 'coins')} and the bad agent at "
        f"{_interval(stats['bad_cash_coins'], 'coins')}: "
        f"{stats['good_locked_coins'][0]:.0f} coins of the good agent's deposits are still in "
        f"escrow (recent ones, and ones the model disagrees with, which others may take).",
        f"Samples reused: {stats['samples_reused']}.",
    ]
    return " ".join(parts)


def run_good_bad(out_dir: Path | None, config: GoodBadConfig | None = None, seeds: int = 10,
                 progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Run `seeds` seeds from `config.seed` on; write `{output_stem}.{json,png}`."""
    cfg = config or GoodBadConfig()
    runs = []
    for i in range(seeds):
        runs.append(run_seed(GoodBadConfig(**{**asdict(cfg), "seed": cfg.seed + i})))
        if progress is not None:
            progress(i + 1)
    agg = aggregate(runs)
    result = {"experiment": "good-bad", "config": asdict(cfg), "seeds": seeds,
              "stats": agg["stats"], "verdict": agg["verdict"],
              "runs": [r["summary"] for r in runs]}
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        stem = output_stem(cfg.model)
        (out_dir / f"{stem}.json").write_text(json.dumps(
            {**result, "bands": agg["bands"], "series": [r["series"] for r in runs]},
            indent=1) + "\n")
        _plot(out_dir / f"{stem}.png", agg, seeds, cfg.model)
    return result


def output_stem(model: str) -> str:
    """`collab_good_bad` for the default model, `collab_good_bad_<model>` otherwise."""
    return "collab_good_bad" if model == GoodBadConfig.model else f"collab_good_bad_{model}"


def _plot(path: Path, agg: dict[str, Any], seeds: int, model: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bands = agg["bands"]
    days = bands["t_days"]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 7.5), sharex=True)

    def band(ax: Any, key: str, label: str, color: str) -> None:
        mean, half = bands[key]["mean"], bands[key]["ci95"]
        ax.plot(days, mean, color=color, label=label)
        ax.fill_between(days, [m - h for m, h in zip(mean, half, strict=True)],
                        [m + h for m, h in zip(mean, half, strict=True)], color=color,
                        alpha=0.2)

    band(top, "good", "good agent", "tab:green")
    band(top, "bad", "bad agent (labels flipped)", "tab:red")
    top.set_ylabel("balance (coins)")
    top.set_title(f"Deposit, refund and take: balances (mean and 95% CI over {seeds} seeds)")
    top.legend()
    top.grid(alpha=0.3)
    band(bottom, "accuracy_ppm", "on-chain model (good + bad data)", "tab:blue")
    band(bottom, "control_ppm", "control: good agent's data only (off-chain)", "tab:gray")
    bottom.set_ylabel("accuracy on hidden test set (%)")
    bottom.set_xlabel("simulated days")
    bottom.set_title(f"Accuracy of the {model.replace('_', ' ')}, Rotten Tomatoes snippets "
                     "(mean and 95% CI)")
    bottom.legend(loc="lower right")
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
