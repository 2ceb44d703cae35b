"""Pure rules of the crowd protocol (Lu, Tang, Wang §IV and §VI): phases, E_ck, payouts.

Everything here is a function of a task record and a block height, so the app, the worker
daemon and the game analysis share one definition: the analysis builds its payoff tables from
`settle_payouts`, the very function `CrowdApp.settle` pays with.

Heights. The last deposit lands in block ``h``; the coin is fixed at the end of block
``coin_height = h + delta`` from the hash of its parent, so nobody (not even the miner of the
last deposit, for ``delta >= 2``) knows the coin while deciding to join. Commits are accepted in
blocks ``coin_height + 1 .. commit_deadline`` (``commit_deadline = coin_height + delta_c``),
reveals once every worker committed or the commit deadline passed, up to
``reveal_deadline = commit_deadline + delta_o``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from learnchain.apps.base import AppError
from learnchain.core.encoding import decode
from learnchain.core.errors import EncodingError

MAX_WORKERS = 16
MAX_COINS = 8
MAX_ECK_DIGESTS = 64
MAX_WINDOW = 100_000
MAX_RESULT_SIZE = 100 * 1024
PPM = 1_000_000


class CrowdError(AppError):
    """A crowd rule refused the call."""


class UnknownProgram(CrowdError):
    """The program id/version is not in the registry every node ships."""


class BadTaskParams(CrowdError):
    """A TaskPublish argument is out of range or malformed."""


class UnknownTask(CrowdError):
    """No task with this id."""


class WrongPhase(CrowdError):
    """The call does not belong to the task's current phase (too early or too late)."""


class WrongDeposit(CrowdError):
    """A worker offered a deposit different from the task's d."""


class AlreadyJoined(CrowdError):
    """The same address tried to take two of the n worker seats."""


class NotAWorker(CrowdError):
    """The signer holds no seat in this task."""


class AlreadyCommitted(CrowdError):
    """A worker tried to commit twice."""


class DuplicateCommitment(CrowdError):
    """The commitment equals another worker's (a copied commitment)."""


class NotCommitted(CrowdError):
    """A reveal from a worker with no commitment."""


class AlreadyRevealed(CrowdError):
    """A worker tried to reveal twice."""


class AlreadySettled(CrowdError):
    """The task was settled or cancelled already."""


class InputMismatch(CrowdError):
    """Input bytes do not hash to the digest the task names (raised off-chain by workers)."""


def task_context(task_id: int) -> bytes:
    """The commitment context: binds a commitment to one task on this chain."""
    return b"crowd/task/" + task_id.to_bytes(8, "big")


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def commitment_for(result: bytes, salt: bytes, address: bytes, task_id: int) -> bytes:
    """c_i = commitment(H(y_i), K_i, address, task): what a worker submits in Commit."""
    from learnchain.apps.commit_reveal import commitment

    return commitment(sha256(result), salt, address, task_context(task_id))


# ----- phases ------------------------------------------------------------------------------


def phase_at(task: dict[str, Any], height: int) -> str:
    """The phase a transaction included at `height` meets.

    One of ``prepare``, ``expired`` (not enough workers by the join deadline: cancel),
    ``coin`` (full, coin not yet fixed), ``commit``, ``reveal``, ``settle``, ``settled``,
    ``cancelled``.
    """
    status = task["status"]
    if status in ("settled", "cancelled"):
        return status
    if len(task["workers"]) < task["n"]:
        return "prepare" if height <= task["join_deadline"] else "expired"
    if not task["seed"]:
        return "coin"
    committed = sum(1 for c in task["commits"] if c)
    revealed = sum(1 for r in task["results"] if r)
    if height > task["reveal_deadline"]:
        return "settle"
    if height > task["commit_deadline"]:
        # every committer revealed: nothing more can change the outcome
        return "settle" if revealed == committed else "reveal"
    if committed < task["n"]:
        return "commit"
    return "settle" if revealed == task["n"] else "reveal"


def require_phase(task: dict[str, Any], height: int, *allowed: str) -> str:
    phase = phase_at(task, height)
    if phase not in allowed:
        raise WrongPhase(f"task {task['id']} is in phase {phase!r} at height {height}; this "
                         f"call needs {' or '.join(repr(a) for a in allowed)}"
                         + _deadline_hint(task))
    return phase


def _deadline_hint(task: dict[str, Any]) -> str:
    if not task["seed"]:
        return f" (joins until height {task['join_deadline']})"
    return (f" (coin fixed at {task['coin_height']}, commits until {task['commit_deadline']}, "
            f"reveals until {task['reveal_deadline']})")


# ----- publish parameters ------------------------------------------------------------------


@dataclass(frozen=True)
class TaskParams:
    program: str
    version: int
    input: bytes
    n: int
    deposit: int
    reward: int
    delta_p: int
    delta: int
    delta_c: int
    delta_o: int
    coins: int
    eck: tuple[bytes, ...]
    seller: bytes
    price: int
    threshold_ppm: int


def validate_task_params(p: TaskParams, program_kind: str) -> None:
    """Everything a TaskPublish must satisfy besides the program being registered."""
    if len(p.input) != 32:
        raise BadTaskParams("input must be the 32-byte SHA-256 digest of the input blob")
    if not 2 <= p.n <= MAX_WORKERS:
        raise BadTaskParams(f"n must be in [2, {MAX_WORKERS}] (the mechanism needs two "
                            f"workers to audit each other), got {p.n}")
    if p.deposit < 2 or p.deposit % 2:
        raise BadTaskParams(f"deposit d must be an even integer >= 2 so d/2 refunds are exact, "
                            f"got {p.deposit}")
    if p.reward < p.n:
        raise BadTaskParams(f"reward r must be at least n = {p.n} so each worker earns "
                            f"r/n >= 1, got {p.reward}")
    for name in ("delta_p", "delta", "delta_c", "delta_o"):
        value = getattr(p, name)
        if not 1 <= value <= MAX_WINDOW:
            raise BadTaskParams(f"{name} must be in [1, {MAX_WINDOW}] blocks, got {value}")
    if not 1 <= p.coins <= MAX_COINS:
        raise BadTaskParams(f"coins must be in [1, {MAX_COINS}], got {p.coins}")
    if len(p.eck) > MAX_ECK_DIGESTS or any(not isinstance(e, bytes) or len(e) != 32 for e in p.eck):
        raise BadTaskParams(f"eck must list at most {MAX_ECK_DIGESTS} 32-byte digests")
    if p.price < 0 or not 0 <= p.threshold_ppm <= PPM:
        raise BadTaskParams("price must be >= 0 and threshold_ppm in [0, 1000000]")
    if p.price and program_kind != "eval":
        raise BadTaskParams("a purchase price needs an evaluation program (it is paid on the "
                            "precision of the agreed bit string)")
    if p.price and len(p.seller) != 20:
        raise BadTaskParams("a purchase needs the 20-byte address of the model seller")


# ----- results and the common-knowledge set E_ck ---------------------------------------------


def split_result(result: bytes, coins: int) -> list[bytes]:
    """A result is canonical CBOR: a list of `coins` byte strings, one per coin r_j."""
    try:
        outputs = decode(result)
    except EncodingError as exc:
        raise ValueError(f"not canonical CBOR: {exc}") from None
    if (not isinstance(outputs, list) or len(outputs) != coins
            or not all(isinstance(o, bytes) for o in outputs)):
        raise ValueError(f"not a list of {coins} byte strings")
    return outputs


def eck_reason(result: bytes, task: dict[str, Any]) -> str | None:
    """Why `result` is in the common-knowledge set E_ck (a failure), or None if it is not.

    E_ck: results that are not a list of one output per coin; empty, all-zero and all-one
    outputs; the input itself or any blob whose digest the requester listed (slices of the
    input, public labels); and the seed's multiple-coins heuristic (footnote 6): the program
    runs once per coin, and an output repeated under different coins carries no entropy from
    the coin, so it is treated as guessed rather than computed.
    """
    known = {task["input"], *task["eck"]}
    if sha256(result) in known:
        return "known: the result is the input or a listed E_ck blob"
    try:
        outputs = split_result(result, task["coins"])
    except ValueError as exc:
        return f"malformed: {exc}"
    for j, out in enumerate(outputs):
        if not out:
            return f"empty output under coin {j}"
        if out.count(0) == len(out):
            return f"all zeros under coin {j}"
        if out.count(0xFF) == len(out):
            return f"all ones under coin {j}"
        if sha256(out) in known:
            return f"known: output under coin {j} is the input or a listed E_ck blob"
    if len(set(outputs)) < len(outputs):
        return "low entropy: the same output under different coins"
    return None


def precision_ppm(result: bytes, coins: int) -> int:
    """Correct predictions per million in an evaluation result (all coins' bit strings).

    The seed's purchase rule calls this the model's precision; it is the fraction of 1 bits
    in the agreed bit string of correct predictions, computed exactly in integers.
    """
    outputs = split_result(result, coins)
    ones = sum(int.from_bytes(o, "big").bit_count() for o in outputs)
    bits = 8 * sum(len(o) for o in outputs)
    return ones * PPM // bits if bits else 0


# ----- payouts -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Settlement:
    """Where the n·d deposits and the reward r go; sums to n·d + r exactly."""

    payouts: tuple[int, ...]
    burned: int
    refund: int
    agreed: bool


def settle_payouts(outcomes: list[bytes | None], deposit: int, reward: int) -> Settlement:
    """The seed's clauses for n workers (§IV for n = 2, §VI in general).

    `outcomes[i]` is the digest of worker i's revealed result, or None if it failed (no
    commit, no valid reveal, or a result in E_ck).

    * some worker failed: it loses d; every other submitter gets d/2 back; r is not paid;
    * all n results equal: each gets d + floor(r/n); the remainder of r goes back;
    * otherwise: each gets d/2 back; r is not paid.

    Forfeits are burned (locked for ever), never paid to the requester: a requester who
    received them could profit by joining its own task with a sybil and submitting junk.
    """
    n = len(outcomes)
    half = deposit // 2
    if deposit % 2:
        raise BadTaskParams("deposit must be even")
    failed = [o is None for o in outcomes]
    if any(failed):
        payouts = tuple(0 if f else half for f in failed)
        agreed = False
    elif len(set(outcomes)) == 1:
        share = reward // n
        payouts = tuple(deposit + share for _ in outcomes)
        agreed = True
    else:
        payouts = tuple(half for _ in outcomes)
        agreed = False
    paid_reward = sum(payouts) - sum(min(p, deposit) for p in payouts)
    refund = reward - paid_reward
    burned = n * deposit - sum(min(p, deposit) for p in payouts)
    return Settlement(payouts, burned, refund, agreed)
