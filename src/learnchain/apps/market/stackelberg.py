"""Stackelberg pricing of compute: a provider leads with a unit price, consumers follow.

Two follower families, both with closed-form best responses:

* ``concave`` (training value): u_i(x) = a_i·ln(1 + x) − p·x, so x_i = max(0, a_i/p − 1).
* ``tullock`` (mining share): u_i(x) = R_i·x/(x + X₋ᵢ) − p·x. The followers play a Tullock
  contest among themselves; its unique equilibrium has an active set A (the k largest R with
  R_k > (k−1)/Σ_{j≤k} 1/R_j), total spend p·X = S = (k−1)/Σ_{A} 1/R_j independent of p, and
  x_i = (S/p)(1 − S/R_i).

On any price interval where the set of active concave followers is fixed, total demand is
D(p) = (A_c + S)/p − k_c, so the leader's profit (p − c)·D(p) is concave there with stationary
point √(c(A_c + S)/k_c). The leader's optimum under capacity Q (D(p) ≤ Q) and a price cap is
therefore found exactly by checking a handful of candidates per interval; no search is needed.
Everything here is exact (`Fraction`) except the square root, which the integer version takes
with `math.isqrt` and then settles by comparing neighbouring integer prices exactly.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

CONCAVE = "concave"
TULLOCK = "tullock"
FAMILIES = (CONCAVE, TULLOCK)

Number = int | Fraction


class MarketModelError(ValueError):
    """A market model that has no well-defined Stackelberg price (e.g. no cap for pure Tullock)."""


@dataclass(frozen=True)
class Consumer:
    family: str
    value: Number

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise MarketModelError(f"family must be one of {FAMILIES}, got {self.family!r}")
        if self.value <= 0:
            raise MarketModelError("a consumer's value must be positive")


def tullock_active(values: Sequence[Number]) -> list[int]:
    """Indices of the followers active in the Tullock contest's equilibrium."""
    order = sorted(range(len(values)), key=lambda i: values[i], reverse=True)
    active: list[int] = []
    inverse_sum = Fraction(0)
    for i in order:
        k = len(active) + 1
        trial = inverse_sum + Fraction(1) / Fraction(values[i])
        if k >= 2 and not Fraction(values[i]) > Fraction(k - 1) / trial:
            break
        active.append(i)
        inverse_sum = trial
    return active if len(active) >= 2 else []


def tullock_spend(values: Sequence[Number]) -> Fraction:
    """S = p·X, the followers' total equilibrium spend (0 when fewer than two compete)."""
    active = tullock_active(values)
    if not active:
        return Fraction(0)
    return Fraction(len(active) - 1) / sum(Fraction(1) / Fraction(values[i]) for i in active)


def best_responses(consumers: Sequence[Consumer], price: Number) -> list[Fraction]:
    """Every follower's equilibrium demand at `price` (Tullock followers jointly, as a contest)."""
    p = Fraction(price)
    if p <= 0:
        raise MarketModelError("price must be positive")
    demand = [Fraction(0)] * len(consumers)
    for i, c in enumerate(consumers):
        if c.family == CONCAVE and c.value > p:
            demand[i] = Fraction(c.value) / p - 1
    tullock = [i for i, c in enumerate(consumers) if c.family == TULLOCK]
    values = [consumers[i].value for i in tullock]
    spend = tullock_spend(values)
    for j in tullock_active(values):
        demand[tullock[j]] = spend / p * (1 - spend / Fraction(values[j]))
    return demand


def total_demand(consumers: Sequence[Consumer], price: Number) -> Fraction:
    return sum(best_responses(consumers, price), Fraction(0))


def leader_profit(consumers: Sequence[Consumer], price: Number, unit_cost: Number,
                  capacity: Number | None = None) -> Fraction:
    """(p − c)·sold, where sold is demand capped by capacity."""
    demand = total_demand(consumers, price)
    sold = demand if capacity is None else min(demand, Fraction(capacity))
    return (Fraction(price) - Fraction(unit_cost)) * sold


@dataclass(frozen=True)
class _Piece:
    """A price interval (lo, hi] on which D(p) = numerator/p − k."""

    lo: Fraction
    hi: Fraction | None
    numerator: Fraction
    k: int


def _pieces(consumers: Sequence[Consumer]) -> list[_Piece]:
    spend = tullock_spend([c.value for c in consumers if c.family == TULLOCK])
    concave = sorted(Fraction(c.value) for c in consumers if c.family == CONCAVE)
    pieces = []
    lo = Fraction(0)
    for idx, bound in enumerate([*concave, None]):
        active = concave[idx:]
        if bound is not None and bound == lo:
            continue
        pieces.append(_Piece(lo, bound, sum(active, Fraction(0)) + spend, len(active)))
        if bound is not None:
            lo = bound
    return pieces


def _capacity_price(pieces: list[_Piece], capacity: Fraction) -> Fraction | None:
    """The lowest price at which demand fits into capacity (demand falls with price).

    None when no price does: Tullock followers spend S at every price, so their demand S/p
    never reaches zero, and with no capacity left nothing fits.
    """
    for piece in pieces:
        if piece.numerator == 0:
            return piece.lo
        if capacity + piece.k == 0:
            continue
        p = piece.numerator / (capacity + piece.k)
        if p > piece.lo and (piece.hi is None or p <= piece.hi):
            return p
    return None


class DemandCurve:
    """Total demand D(p) of a fixed set of followers, built once: O(log n) per price.

    The pieces and Tullock spend are computed when the curve is built, so checking a posted
    price against many candidates costs one pass over the consumers, not one per candidate.
    """

    def __init__(self, consumers: Sequence[Consumer]) -> None:
        self.pieces = _pieces(consumers)
        self._edges = [piece.lo for piece in self.pieces]

    def __call__(self, price: Number) -> Fraction:
        p = Fraction(price)
        if p <= 0:
            raise MarketModelError("price must be positive")
        index = bisect.bisect_left(self._edges, p) - 1
        piece = self.pieces[max(index, 0)]
        return max(Fraction(0), piece.numerator / p - piece.k)

    def fitting_price(self, capacity: Number) -> Fraction | None:
        return _capacity_price(self.pieces, Fraction(capacity))


def _stationary(piece: _Piece, unit_cost: Fraction) -> list[Fraction]:
    if piece.k == 0 or unit_cost <= 0:
        return []
    return [Fraction(math.sqrt(unit_cost * piece.numerator / piece.k))]


@dataclass(frozen=True)
class LeaderSolution:
    price: float
    profit: float
    demand: float
    capacity_binds: bool


def solve_leader(consumers: Sequence[Consumer], unit_cost: Number, *,
                 capacity: Number | None = None, price_cap: Number | None = None,
                 price_floor: Number = 0) -> LeaderSolution:
    """The leader's optimal price, from the closed form on each piece of the demand curve."""
    cost = Fraction(unit_cost)
    pieces = _pieces(consumers)
    lower = max(Fraction(price_floor), cost)
    if capacity is not None:
        fits = _capacity_price(pieces, Fraction(capacity))
        if fits is None:
            raise MarketModelError("no price makes demand fit into the remaining capacity")
        lower = max(lower, fits)
    upper = None if price_cap is None else Fraction(price_cap)
    if upper is None and pieces[-1].numerator > 0:
        raise MarketModelError(
            "with Tullock followers the spend p·X is constant, so profit rises with price "
            "forever: give the market a price cap")
    candidates: list[Fraction] = [lower] if upper is None else [lower, upper]
    for piece in pieces:
        candidates.extend(e for e in (piece.lo, piece.hi) if e is not None)
        candidates.extend(_stationary(piece, cost))
    best: LeaderSolution | None = None
    for p in candidates:
        if p < lower or (upper is not None and p > upper) or p <= 0:
            continue
        demand = total_demand(consumers, p)
        profit = (p - cost) * demand
        if best is None or float(profit) > best.profit:
            binds = capacity is not None and p == lower and lower > cost
            best = LeaderSolution(float(p), float(profit), float(demand), binds)
    if best is None:
        raise MarketModelError("no feasible price: the floor or cost lies above the cap")
    return best


def best_integer_price(consumers: Sequence[Consumer], unit_cost: int, *, capacity: int,
                       price_cap: int, price_floor: int = 1) -> tuple[int, Fraction] | None:
    """The exact profit-maximising integer price under capacity, and its profit.

    Profit is concave on each piece, so the integer optimum is at a piece's end, at the floor
    or ceiling of its stationary point, or at the capacity price rounded up; each candidate is
    evaluated exactly. This is what the app runs to check a posted price. None when no price up
    to the cap makes demand fit: the market is short and rations at the cap.
    """
    cost = Fraction(unit_cost)
    curve = DemandCurve(consumers)
    pieces = curve.pieces
    fits = curve.fitting_price(capacity)
    if fits is None:
        return None
    lo = max(price_floor, unit_cost, math.ceil(fits), 1)
    hi = price_cap
    if lo > hi:
        return None
    candidates = {lo, hi}
    for piece in pieces:
        for edge in (piece.lo, piece.hi):
            if edge is not None:
                candidates.update({math.floor(edge), math.ceil(edge)})
        if piece.k > 0:
            root = math.isqrt(int(cost * piece.numerator / piece.k))
            candidates.update({root, root + 1})
    best_p, best_profit = lo, Fraction(-1)
    for p in sorted(c for c in candidates if lo <= c <= hi):
        profit = (Fraction(p) - cost) * min(curve(p), Fraction(capacity))
        if profit > best_profit:
            best_p, best_profit = p, profit
    return best_p, best_profit


def consumer_utility(consumer: Consumer, own: float, others: float, price: float) -> float:
    """Realised utility of a follower that got `own` units at `price` (off chain, floats)."""
    if consumer.family == CONCAVE:
        return float(consumer.value) * math.log1p(own) - price * own
    total = own + others
    share = own / total if total > 0 else 0.0
    return float(consumer.value) * share - price * own


def numeric_best_response(marginal_utility: Callable[[float], float], price: float, *,
                          upper: float = 1e6, tol: float = 1e-10) -> float:
    """Demand of a follower with any concave utility: solve u'(x) = p by bisection.

    For families without a closed form. Verified by its first-order condition: u'(0) ≤ p means
    buying nothing is optimal; otherwise the root is bracketed in [0, upper].
    """
    if marginal_utility(0.0) <= price:
        return 0.0
    lo, hi = 0.0, upper
    if marginal_utility(hi) > price:
        raise MarketModelError("demand is unbounded at this price within the search range")
    while hi - lo > tol * max(1.0, hi):
        mid = (lo + hi) / 2
        if marginal_utility(mid) > price:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2
