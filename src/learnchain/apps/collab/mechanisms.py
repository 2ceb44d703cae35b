"""Incentive mechanisms as pure rules over integers: who may claim what, when, and how much.

The app stores records and moves money; everything that decides an amount or refuses a claim
lives here so it can be read as a specification and tested without a chain. Refusals raise
AppError with the reference contracts' revert messages.

Rounding rules (all money is integer, nothing is ever created or lost):
  * deposit: costWeight·3600 // isqrt(now − lastUpdate) — floor, as the contract's uint math;
  * proportional take: initialDeposit·good(reporter) // totalGood — floor, replaced by what is
    left when it is 0 or exceeds it;
  * paid prediction: fee·good_i // totalGood per good contributor — floor, the caller keeps
    the remainder (it is simply never charged);
  * prediction market: balances are kept exactly in units of 1/(N·10^9) (N = revealed test
    samples, 10^9 ticks per round), so b ← b + (correct' − correct)·ticks is an exact
    integer; each author is paid floor(b/(N·10^9)) at the end and the sub-unit remainders go
    back to the bounty provider.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from learnchain.apps.base import AppError
from learnchain.apps.collab.models import Model, isqrt_floor
from learnchain.core.encoding import encode

HOUR_S = 3600

# Reference revert messages (quoted verbatim; the issue requires them as error messages).
E_NOT_ENOUGH_DEPOSIT = "Didn't pay enough for the deposit."
E_TIME_ORDER = "The last update time is after the current time."
E_NOT_FOUND = "Data not found."
E_NOT_SENDER = "Data is not from the sender."
E_CLAIMED_SUBMITTER = "Deposit already claimed by submitter."
E_CLAIMED_REPORTER = "Deposit already claimed by reporter."
E_NOTHING_LEFT = "There is no reward left to claim."
E_TOO_EARLY = "Not enough time has passed."
E_DISAGREES = "The model doesn't agree with your contribution."
E_AGREES = "The model should not agree with the contribution."
E_OWN_DEPOSIT = "Cannot take your own deposit."  # Stakeable.sol (the simulation adds more)
E_NO_GOOD = "The sender has not sent any good data."
E_OWNER_WAIT = "Owner claim wait time must be at least the refund wait time."
E_ANY_WAIT = "Owner claim wait time must be less than the any address claim wait time."
E_MARKET_EARLY = "Can't end the market yet."
E_REWARD_PENDING = "The reward phase has not finished processing contributions."


def _nonneg(plain: dict[str, Any], name: str, default: int | None = None) -> int:
    value = plain.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise AppError(f"mechanism parameter {name!r} must be a non-negative integer")
    return value


# ===== contributions =====================================================================


@dataclass
class Contribution:
    """One added sample and the money (or point) still attached to it."""

    id: int
    author: bytes
    data: list[int]
    label: int
    time: int
    deposit: int
    claimable: int
    claimed_by: list[bytes] = field(default_factory=list)

    def to_plain(self) -> dict[str, Any]:
        return {"id": self.id, "author": self.author, "data": self.data, "label": self.label,
                "time": self.time, "deposit": self.deposit, "claimable": self.claimable,
                "claimed_by": self.claimed_by}

    def to_record(self) -> list[Any]:
        """Compact stored form (a list encodes faster than a map; the id is in the key)."""
        return self.record(self.author, self.data, self.label, self.time, self.deposit,
                           self.claimable, self.claimed_by)

    @staticmethod
    def record(author: bytes, data: list[int], label: int, time: int, deposit: int,
               claimable: int, claimed_by: list[bytes] | None = None) -> list[Any]:
        """The data is stored packed as big-endian int64s (inputs are validated to fit)."""
        packed = struct.pack(f">{len(data)}q", *data)
        return [author, packed, label, time, deposit, claimable, claimed_by or []]

    @classmethod
    def from_record(cls, cid: int, record: list[Any]) -> Contribution:
        author, packed, label, time, deposit, claimable, claimed_by = record
        data = list(struct.unpack(f">{len(packed) // 8}q", packed))
        return cls(cid, author, data, label, time, deposit, claimable, list(claimed_by))


# ===== deposit, refund and take ==========================================================


@dataclass(frozen=True)
class StakeableParams:
    """Claim windows in seconds after a contribution, in chronological order, and the cost."""

    refund_wait_s: int
    owner_wait_s: int
    any_wait_s: int
    cost_weight: int

    @classmethod
    def from_plain(cls, plain: dict[str, Any]) -> StakeableParams:
        params = cls(_nonneg(plain, "refund_wait_s", 86_400), _nonneg(plain, "owner_wait_s",
                     9 * 86_400), _nonneg(plain, "any_wait_s", 9 * 86_400),
                     _nonneg(plain, "cost_weight", 1))
        if params.refund_wait_s > params.owner_wait_s:
            raise AppError(E_OWNER_WAIT)
        if params.owner_wait_s > params.any_wait_s:
            raise AppError(E_ANY_WAIT)
        return params

    def to_plain(self) -> dict[str, Any]:
        return {"refund_wait_s": self.refund_wait_s, "owner_wait_s": self.owner_wait_s,
                "any_wait_s": self.any_wait_s, "cost_weight": self.cost_weight}


def required_deposit(cost_weight: int, now: int, last_update: int) -> int:
    """Deposit to add data now: dear right after an update, cheaper as the model rests."""
    if last_update > now:
        raise AppError(E_TIME_ORDER)
    elapsed = now - last_update
    divisor = 1 if elapsed == 0 else isqrt_floor(elapsed)
    return cost_weight * HOUR_S // divisor


def accept_deposit(offered: int, required: int) -> int:
    """The amount actually taken: exactly the requirement; the excess stays with the payer."""
    if offered < required:
        raise AppError(E_NOT_ENOUGH_DEPOSIT)
    return required


def refund(c: Contribution, sender: bytes, now: int, prediction: int,
           params: StakeableParams) -> int:
    """The author takes back what is left once the wait is over and the model agrees.

    Mutates `c` (claimable → 0, sender marked as claimant); the caller counts the
    contribution as good for the author.
    """
    if sender == c.author and sender in c.claimed_by:
        raise AppError(E_CLAIMED_SUBMITTER)
    return _settle_author_claim(c, sender, now, prediction, params.refund_wait_s)


def _settle_author_claim(c: Contribution, sender: bytes, now: int, prediction: int,
                         wait_s: int) -> int:
    """The rule both refund mechanisms share: only the author, only once something is left,
    only after the wait, only if the model now agrees. Returns what was left; mutates `c`."""
    if sender != c.author:
        raise AppError(E_NOT_SENDER)
    if c.claimable == 0:
        raise AppError(E_NOTHING_LEFT)
    if now - c.time < wait_s:
        raise AppError(E_TOO_EARLY)
    if prediction != c.label:
        raise AppError(E_DISAGREES)
    amount = c.claimable
    c.claimable = 0
    c.claimed_by.append(sender)
    return amount


def take(c: Contribution, reporter: bytes, owner: bytes, now: int, prediction: int,
         params: StakeableParams, reporter_good: int, total_good: int) -> int:
    """Amount a reporter takes from a contribution's deposit; mutates `c`.

    The model's owner takes everything left after the owner wait, anyone after the
    any-address wait; before that, a reporter with good contributions of its own takes a
    share proportional to its good count, once, and only when the current model disagrees
    with the contribution. As in the reference's Stakeable, the take-all branches ask
    nothing else: not whether this reporter already took a share, nor whether it is the
    author (once everything left may go to anyone, refusing a second claim from the same
    address would only make it use another one).
    """
    if c.claimable == 0:
        raise AppError(E_NOTHING_LEFT)
    age = now - c.time
    if (age >= params.owner_wait_s and reporter == owner) or age >= params.any_wait_s:
        amount = c.claimable
    else:
        if reporter == c.author:
            raise AppError(E_OWN_DEPOSIT)
        if reporter in c.claimed_by:
            raise AppError(E_CLAIMED_REPORTER)
        if age < params.refund_wait_s:
            raise AppError(E_TOO_EARLY)
        if prediction == c.label:
            raise AppError(E_AGREES)
        if reporter_good == 0:
            raise AppError(E_NO_GOOD)
        amount = c.deposit * reporter_good // total_good
        if amount == 0 or amount > c.claimable:
            amount = c.claimable
    c.claimable -= amount
    c.claimed_by.append(reporter)
    return amount


# ===== points ============================================================================


@dataclass(frozen=True)
class PointsParams:
    """Points carry no money: a contribution is judged once (the reference's Points64).

    The three waits are the reference's; as there, they need not be ordered, and a report is
    allowed once any one of them applies to the reporter.
    """

    refund_wait_s: int
    owner_wait_s: int
    any_wait_s: int

    @classmethod
    def from_plain(cls, plain: dict[str, Any]) -> PointsParams:
        refund_wait = _nonneg(plain, "refund_wait_s", 86_400)
        return cls(refund_wait, _nonneg(plain, "owner_wait_s", refund_wait),
                   _nonneg(plain, "any_wait_s", refund_wait))

    def to_plain(self) -> dict[str, Any]:
        return {"refund_wait_s": self.refund_wait_s, "owner_wait_s": self.owner_wait_s,
                "any_wait_s": self.any_wait_s}


E_ALREADY_CLAIMED = "Already claimed."
E_CLAIMED_BY_SUBMITTER = "Already claimed by submitter."
E_CLAIMED_BY_REPORTER = "Already claimed by reporter."
E_REPORT_SELF = "Cannot report yourself."
E_NOT_YET = "Cannot be claimed yet."


def points_refund(c: Contribution, sender: bytes, now: int, prediction: int,
                  params: PointsParams) -> None:
    """The author claims the contribution as good (one point); the first claim settles it.

    Checks in the reference's order: author ("Data is not from the sender."), no claim yet
    ("Already claimed."), the refund wait, the model agrees. Mutates `c`.
    """
    if sender != c.author:
        raise AppError(E_NOT_SENDER)
    if c.claimed_by:
        raise AppError(E_ALREADY_CLAIMED)
    if now - c.time < params.refund_wait_s:
        raise AppError(E_TOO_EARLY)
    if prediction != c.label:
        raise AppError(E_DISAGREES)
    c.claimable = 0
    c.claimed_by.append(sender)


def points_report(c: Contribution, reporter: bytes, owner: bytes, now: int, prediction: int,
                  params: PointsParams) -> None:
    """Anyone but the author reports a contribution the model disagrees with; this settles it.

    As the reference's Points64: no good data of the reporter's own is needed (there is no
    money to protect), the first claim of either kind settles the contribution, and the
    checks come in its order: a wait applies ("Cannot be claimed yet."), no claim yet
    ("Already claimed."), not the author ("Cannot report yourself."), the model disagrees.
    Mutates `c`.
    """
    age = now - c.time
    if not (age >= params.refund_wait_s or age >= params.any_wait_s
            or (age >= params.owner_wait_s and reporter == owner)):
        raise AppError(E_NOT_YET)
    if c.claimed_by:
        raise AppError(E_ALREADY_CLAIMED)
    if reporter == c.author:
        raise AppError(E_REPORT_SELF)
    if prediction == c.label:
        raise AppError(E_AGREES)
    c.claimable = 0
    c.claimed_by.append(reporter)


@dataclass
class AuthorStats:
    """Per-author counters from which points and badges are derived (never stored twice)."""

    contributions: int = 0
    good: int = 0
    bad: int = 0
    reports: int = 0
    labels: list[int] = field(default_factory=list)
    last_day: int = -1
    streak: int = 0
    best_streak: int = 0

    def record_contribution(self, label: int, now: int) -> None:
        self.contributions += 1
        if label not in self.labels:
            self.labels = sorted([*self.labels, label])
        day = now // 86_400
        if day == self.last_day:
            return
        self.streak = self.streak + 1 if day == self.last_day + 1 else 1
        self.best_streak = max(self.best_streak, self.streak)
        self.last_day = day

    def to_plain(self) -> dict[str, Any]:
        return {"n": self.contributions, "good": self.good, "bad": self.bad,
                "reports": self.reports, "labels": self.labels, "day": self.last_day,
                "streak": self.streak, "best": self.best_streak}

    def to_record(self) -> list[Any]:
        return [self.contributions, self.good, self.bad, self.reports, self.labels,
                self.last_day, self.streak, self.best_streak]

    @classmethod
    def from_record(cls, record: list[Any] | None) -> AuthorStats:
        if not record:
            return cls()
        n, good, bad, reports, labels, day, streak, best = record
        return cls(n, good, bad, reports, list(labels), day, streak, best)


BADGES: tuple[tuple[str, str], ...] = (
    ("first-contribution", "added a first sample"),
    ("ten-contributions", "added 10 samples"),
    ("hundred-contributions", "added 100 samples"),
    ("all-labels", "contributed samples of every class"),
    ("streak-3", "contributed on 3 consecutive days"),
    ("streak-7", "contributed on 7 consecutive days"),
    ("trusted", "10 contributions judged good"),
    ("watchdog", "reported a bad contribution"),
)


def points(stats: AuthorStats) -> int:
    """One point per good contribution, one per successful report."""
    return stats.good + stats.reports


def badges(stats: AuthorStats, num_classes: int) -> list[str]:
    """Milestones derived from the counters; a view, so badges never need migrating."""
    earned = {
        "first-contribution": stats.contributions >= 1,
        "ten-contributions": stats.contributions >= 10,
        "hundred-contributions": stats.contributions >= 100,
        "all-labels": len(stats.labels) >= num_classes > 0,
        "streak-3": stats.best_streak >= 3,
        "streak-7": stats.best_streak >= 7,
        "trusted": stats.good >= 10,
        "watchdog": stats.reports >= 1,
    }
    return [name for name, _ in BADGES if earned[name]]


def split_fee(fee: int, good_counts: Sequence[tuple[bytes, int]]) -> list[tuple[bytes, int]]:
    """Shares of a prediction fee by good count, floored; the caller keeps the remainder."""
    total = sum(g for _, g in good_counts)
    if total == 0:
        return []
    return [(a, fee * g // total) for a, g in good_counts if fee * g // total > 0]


# ===== prediction market =================================================================


@dataclass(frozen=True)
class MarketOptions:
    """The reference's options plus the market's timing and size limits.

    The size limits bound the one transaction that settles the market (it replays up to
    `max_contributions` updates and evaluates on up to `max_test_samples` per pass).
    """

    group_contributions: bool = False
    reset_model: bool = False
    allow_greater_deposit: bool = False
    min_length_s: int = 0
    min_contributions: int = 0
    reveal_window_s: int = 7 * 86_400
    any_wait_s: int = 7 * 86_400
    max_contributions: int = 1_000
    max_test_samples: int = 2_000

    @classmethod
    def from_plain(cls, plain: dict[str, Any]) -> MarketOptions:
        flags = {}
        for name in ("group_contributions", "reset_model", "allow_greater_deposit"):
            value = plain.get(name, False)
            if not isinstance(value, bool):
                raise AppError(f"market option {name!r} must be true or false")
            flags[name] = value
        return cls(**flags, min_length_s=_nonneg(plain, "min_length_s", 0),
                   min_contributions=_nonneg(plain, "min_contributions", 0),
                   reveal_window_s=_nonneg(plain, "reveal_window_s", 7 * 86_400),
                   any_wait_s=_nonneg(plain, "any_wait_s", 7 * 86_400),
                   max_contributions=_nonneg(plain, "max_contributions", 1_000),
                   max_test_samples=_nonneg(plain, "max_test_samples", 2_000))

    def to_plain(self) -> dict[str, Any]:
        return {"group_contributions": self.group_contributions,
                "reset_model": self.reset_model,
                "allow_greater_deposit": self.allow_greater_deposit,
                "min_length_s": self.min_length_s, "min_contributions": self.min_contributions,
                "reveal_window_s": self.reveal_window_s, "any_wait_s": self.any_wait_s,
                "max_contributions": self.max_contributions,
                "max_test_samples": self.max_test_samples}


MIN_STAKE = 1


def market_stake(offered: int, allow_greater: bool) -> int:
    """Stake taken with a market contribution: 1 unit, or all of it when larger is allowed."""
    if offered < MIN_STAKE:
        raise AppError(f"Did not pay enough. Sent {offered} < {MIN_STAKE}")
    return offered if allow_greater else MIN_STAKE


def check_piece(piece: Any) -> list[list[Any]]:
    """A test-set piece is a non-empty list of [data, label] pairs of integers."""
    if not isinstance(piece, list) or not piece:
        raise AppError("a test-set piece must be a non-empty list of [data, label] pairs")
    for pair in piece:
        if (not isinstance(pair, list) or len(pair) != 2 or not isinstance(pair[0], list)
                or not isinstance(pair[1], int) or isinstance(pair[1], bool)):
            raise AppError("a test-set piece must be a non-empty list of [data, label] pairs")
    return piece


def piece_hash(piece: list[list[Any]]) -> bytes:
    """SHA-256 of the canonical encoding: one piece, one byte string, one commitment."""
    return hashlib.sha256(encode(check_piece(piece))).digest()


def split_test_set(data: Sequence[Sequence[int]], labels: Sequence[int],
                   pieces: int) -> list[list[list[Any]]]:
    """Cut a test set into `pieces` contiguous, near-equal, non-empty pieces."""
    if not 2 <= pieces <= len(data):
        raise AppError("need at least 2 pieces and at least one sample per piece")
    bounds = [len(data) * i // pieces for i in range(pieces + 1)]
    return [[[list(data[j]), int(labels[j])] for j in range(bounds[i], bounds[i + 1])]
            for i in range(pieces)]


@dataclass(frozen=True)
class MarketEntry:
    author: bytes
    data: list[int]
    label: int
    stake: int


TICKS_PER_ROUND = 10**9
"""Resolution of the reward phase: a pass stands for a whole number of 10^-9 rounds."""


@dataclass
class MarketPass:
    """One pass of the reward phase: how long it stood (in ticks) and who it dropped."""

    ticks: int
    scores: dict[str, int]
    dropped: list[str]
    contributions: int

    @property
    def rounds(self) -> Fraction:
        """The pass's length in bounty rounds (exact; a tick is 10^-9 round)."""
        return Fraction(self.ticks, TICKS_PER_ROUND)

    def to_plain(self) -> dict[str, Any]:
        return {"ticks": self.ticks, "scores": self.scores, "dropped": self.dropped,
                "contributions": self.contributions}


@dataclass
class MarketOutcome:
    payouts: dict[bytes, int]
    provider_refund: int
    base_correct: int
    final_correct: int
    test_size: int
    survivors: list[int]
    passes: list[MarketPass]
    final_model: Model


def pass_ticks(scores: dict[str, int], balance: dict[str, int], remaining: int) -> int:
    """How long a pass stands: until the first loser's balance reaches zero.

    Balances are in units of 1/(N·TICKS_PER_ROUND) money and a score is the change in
    correct test predictions per round, so a participant's balance moves by exactly `score`
    per tick. A loser can pay ⌊balance / loss⌋ ticks; the pass stands for the smallest such
    number over all losers (the reference used only the worst scorer, which could push other
    losers below zero), capped by the bounty's remaining ticks. When a balance is smaller
    than one round's loss this is a fraction of a round; what is left over (less than one
    tick's loss, i.e. under 1/TICKS_PER_ROUND of a money unit) is too little to pay another
    tick, so the loser is out. Without losers the pass takes all remaining ticks.
    """
    ticks = remaining
    for k, s in scores.items():
        if s < 0:
            ticks = min(ticks, balance[k] // -s)
    return ticks


def compute_market_rewards(initial_model: Callable[[], Model], entries: Sequence[MarketEntry],
                           test_data: Sequence[Sequence[int]], test_labels: Sequence[int],
                           bounty: int, options: MarketOptions) -> MarketOutcome:
    """Run the reward phase: b ← b + (accuracy after − accuracy before) per round.

    A participant is an author (grouped) or one contribution (not grouped). Each pass walks
    the remaining contributions in order, scoring a participant at the end of each of its
    runs of consecutive contributions by the change in correct test predictions. If someone
    loses, the pass stands until the first loser's balance reaches zero (`pass_ticks`);
    everyone's balance moves by score × ticks, everyone who can no longer stake 1 per
    contribution is dropped, and the next pass starts (from the initial model when
    `reset_model`; otherwise the accuracies measured in the first pass are reused, as in the
    reference). When nobody loses, or the bounty runs out, the pass takes all remaining
    rounds and the market ends. Balances are integers in units of 1/(N·10^9), so nothing
    rounds until each author's payout is floored at the end.
    """
    n_test = len(test_data)
    if n_test == 0 or n_test != len(test_labels):
        raise AppError("the revealed test set is empty or malformed")
    unit = n_test * TICKS_PER_ROUND          # balance units per money unit

    def key(index: int) -> str:
        return entries[index].author.hex() if options.group_contributions else str(index)

    balance: dict[str, int] = {}
    owner_of: dict[str, bytes] = {}
    for i, entry in enumerate(entries):
        k = key(i)
        balance[k] = balance.get(k, 0) + entry.stake * unit
        owner_of[k] = entry.author
    base_model = initial_model()
    base = base_model.evaluate(test_data, test_labels)
    cached: list[int] = []
    if not options.reset_model:
        for entry in entries:
            base_model.update(entry.data, entry.label)
            cached.append(base_model.evaluate(test_data, test_labels))

    active = list(range(len(entries)))
    remaining = bounty * TICKS_PER_ROUND
    passes: list[MarketPass] = []
    while active and remaining > 0:
        model = initial_model() if options.reset_model else None
        # With a reset the baseline is measured again on the freshly reset model.
        prev = model.evaluate(test_data, test_labels) if model is not None else base
        scores: dict[str, int] = {}
        for pos, i in enumerate(active):
            k = key(i)
            scores.setdefault(k, 0)
            last = pos + 1 == len(active)
            if model is not None:
                model.update(entries[i].data, entries[i].label)
            if last or not options.group_contributions or key(active[pos + 1]) != k:
                acc = model.evaluate(test_data, test_labels) if model is not None else cached[i]
                scores[k] += acc - prev
                prev = acc
        required = {k: 0 for k in scores}
        for i in active:
            required[key(i)] += unit
        ticks = pass_ticks(scores, balance, remaining)
        for k, s in scores.items():
            balance[k] += s * ticks
        remaining -= ticks
        dropped = [k for k in scores if balance[k] < required[k]]
        passes.append(MarketPass(ticks, dict(scores), dropped, len(active)))
        if not any(s < 0 for s in scores.values()):
            break
        active = [i for i in active if key(i) not in dropped]

    payouts: dict[bytes, int] = {}
    scaled: dict[bytes, int] = {}
    for k, b in balance.items():
        scaled[owner_of[k]] = scaled.get(owner_of[k], 0) + b
    for author, b in scaled.items():
        payouts[author] = b // unit
    total_in = sum(e.stake for e in entries) + bounty
    final = initial_model()
    for i in active:
        final.update(entries[i].data, entries[i].label)
    return MarketOutcome(payouts, total_in - sum(payouts.values()), base,
                         final.evaluate(test_data, test_labels), n_test, active, passes, final)


def abort_split(stakes: dict[bytes, int], bounty: int) -> tuple[dict[bytes, int], int]:
    """If the provider never reveals: stakes back plus the bounty pro rata to stakes (floor).

    The remainder (under one unit per contributor) is returned alongside for the model owner,
    so a provider cannot walk away with both the data and the bounty.
    """
    total = sum(stakes.values())
    if total == 0:
        return {}, bounty
    shares = {a: s + bounty * s // total for a, s in stakes.items()}
    return shares, total + bounty - sum(shares.values())
