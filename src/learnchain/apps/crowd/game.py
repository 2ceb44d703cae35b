"""Payoff tables and IEWDS, generated from the app's own payout function.

The seed proves (§IV, §VI) that "send the true result" is the only strategy surviving
iterated elimination of weakly dominated strategies (IEWDS), for two workers and for any
coalition of up to n−1 workers. Here the tables are not typed in: every utility is
``payout − d − cost`` with the payout from `rules.settle_payouts`, the function
`CrowdApp.settle` pays with, so the analysis is about the code that runs.

Strategies of one worker: ``e`` (fail: no commit, no reveal, or an E_ck result), ``t`` (true
result, costs c), ``f`` (own random junk outside E_ck, free). A coalition additionally has the
shared junk ``s`` (σ_3). Junk never equals the true result or another worker's junk unless
shared, as the seed assumes for a large unpredictable output space.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from learnchain.apps.crowd.rules import settle_payouts

TRUE = b"true-result"
SHARED = b"coalition-junk"


def outcome(strategy: str, who: int) -> bytes | None:
    """What the chain sees from one worker playing `strategy`."""
    if strategy == "e":
        return None
    if strategy == "t":
        return TRUE
    if strategy == "s":
        return SHARED
    if strategy == "f":
        return b"junk-%d" % who
    raise ValueError(f"unknown strategy {strategy!r}")


def worker_utilities(strategies: Sequence[str], r: int, d: int, cost: int = 0) -> list[int]:
    """Net gain of each worker: settlement payout − deposit − computing cost (if it computed)."""
    s = settle_payouts([outcome(st, i) for i, st in enumerate(strategies)], d, r)
    return [p - d - (cost if st == "t" else 0) for p, st in zip(s.payouts, strategies,
                                                                 strict=True)]


# ----- the seed's tables -------------------------------------------------------------------


def table_one(r: int, d: int, cost: int = 0) -> dict[tuple[str, str], tuple[int, int]]:
    """Table I: two workers, σ_e / σ_t / σ_f (keys use e, t, f)."""
    return {(a, b): tuple(worker_utilities([a, b], r, d, cost))  # type: ignore[misc]
            for a in "etf" for b in "etf"}


@dataclass(frozen=True)
class CoalitionStrategy:
    """σ_1…σ_7: how many members play t (p), own junk (q), nothing (l); or shared junk."""

    name: str
    p: int
    q: int
    l: int  # noqa: E741 - the seed's symbol
    shared: bool = False

    def members(self) -> list[str]:
        if self.shared:
            return ["s"] * (self.p + self.q + self.l)
        return ["t"] * self.p + ["f"] * self.q + ["e"] * self.l


def coalition_strategies(k: int) -> list[CoalitionStrategy]:
    """Every pure strategy of a coalition of size k, grouped into the seed's σ families."""
    out = [CoalitionStrategy("σ1", 0, 0, k), CoalitionStrategy("σ2", k, 0, 0),
           CoalitionStrategy("σ3", 0, k, 0, shared=True)]
    for p, q, l in itertools.product(range(k + 1), repeat=3):  # noqa: E741 - seed symbols
        if p + q + l != k or sum(x > 0 for x in (p, q, l)) < 2:
            continue
        family = {(True, False, True): "σ4", (False, True, True): "σ5",
                  (True, True, False): "σ6", (True, True, True): "σ7"}[(p > 0, q > 0, l > 0)]
        out.append(CoalitionStrategy(f"{family}(p={p},q={q},l={l})", p, q, l))
    return out


SITUATIONS = {"I": "e", "II": "f", "III": "t"}
"""Representative outsider play: I — one outsider submits nothing; II — one submits junk;
III — all outsiders submit the true result (the others play t in I and II)."""


def outsider_profile(situation: str, outsiders: int) -> list[str]:
    if situation == "III":
        return ["t"] * outsiders
    return [SITUATIONS[situation]] + ["t"] * (outsiders - 1)


def coalition_utility(strategy: CoalitionStrategy, outsiders: Sequence[str], r: int, d: int,
                      cost: int = 0) -> int:
    members = strategy.members()
    utilities = worker_utilities([*members, *outsiders], r, d, cost)
    return sum(utilities[:len(members)])


def table_two(n: int, k: int, r: int, d: int, cost: int = 0) -> dict[str, dict[str, int]]:
    """Table II for a coalition of size k among n workers: σ → situation → utility."""
    if not 1 <= k <= n - 1:
        raise ValueError(f"coalition size must be in [1, n-1] = [1, {n - 1}], got {k}")
    return {s.name: {sit: coalition_utility(s, outsider_profile(sit, n - k), r, d, cost)
                     for sit in SITUATIONS}
            for s in coalition_strategies(k)}


# ----- IEWDS -------------------------------------------------------------------------------


@dataclass
class Game:
    """A finite normal-form game: players, their pure strategies, utilities of a profile."""

    players: list[str]
    strategies: list[list[str]]
    utility: Callable[[tuple[str, ...]], tuple[int, ...]]


@dataclass
class Elimination:
    player: str
    strategy: str
    by: str
    strict: bool


@dataclass
class IewdsResult:
    survivors: list[list[str]]
    log: list[Elimination] = field(default_factory=list)


def iewds(game: Game) -> IewdsResult:
    """Iterated elimination of weakly dominated pure strategies.

    Each pass visits the players in order and removes, for the current player, every strategy
    weakly dominated by a surviving one against all surviving profiles of the others; passes
    repeat until nothing changes. (Weak dominance is order-sensitive in general; for these
    games every order gives the same survivors, which the unit tests check.)
    """
    utility = lru_cache(maxsize=None)(game.utility)
    alive = [list(s) for s in game.strategies]
    result = IewdsResult(alive)
    changed = True
    while changed:
        changed = False
        for i, name in enumerate(game.players):
            others = list(itertools.product(*(alive[j] for j in range(len(alive)) if j != i)))

            def payoffs(a: str, i: int = i, others: list = others) -> list[int]:
                return [utility(tuple([*o[:i], a, *o[i:]]))[i] for o in others]

            table = {a: payoffs(a) for a in alive[i]}
            for a in list(alive[i]):
                for b in alive[i]:
                    if a == b:
                        continue
                    ua, ub = table[a], table[b]
                    if all(y >= x for x, y in zip(ua, ub, strict=True)) and ua != ub:
                        strict = all(y > x for x, y in zip(ua, ub, strict=True))
                        alive[i].remove(a)
                        result.log.append(Elimination(name, a, b, strict))
                        changed = True
                        break
    return result


def worker_game(n: int, r: int, d: int, cost: int = 0) -> Game:
    """n independent workers, each choosing e, t or f."""
    return Game([f"W{i + 1}" for i in range(n)], [["e", "t", "f"] for _ in range(n)],
                lambda profile: tuple(worker_utilities(profile, r, d, cost)))


def coalition_game(n: int, k: int, r: int, d: int, cost: int = 0) -> Game:
    """A coalition C of size k (one player, σ strategies) against n−k independent outsiders."""
    by_name = {s.name: s for s in coalition_strategies(k)}

    def utility(profile: tuple[str, ...]) -> tuple[int, ...]:
        members = by_name[profile[0]].members()
        u = worker_utilities([*members, *profile[1:]], r, d, cost)
        return (sum(u[:k]), *u[k:])

    return Game(["C", *(f"W{i + 1}" for i in range(n - k))],
                [list(by_name), *(["e", "t", "f"] for _ in range(n - k))], utility)


def honest_survives(n: int, r: int, d: int, cost: int) -> bool:
    """Does t survive IEWDS for every worker of the n-worker game?"""
    return all("t" in s for s in iewds(worker_game(n, r, d, cost)).survivors)


def cost_threshold(n: int, r: int, d: int) -> int:
    """The smallest integer cost c at which honesty no longer survives IEWDS (bisection on the
    generated tables; compare with the closed form r/n + d/2 in the docs)."""
    lo, hi = 0, r + d + 1
    if not honest_survives(n, r, d, lo):
        return 0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if honest_survives(n, r, d, mid):
            lo = mid
        else:
            hi = mid
    return hi
