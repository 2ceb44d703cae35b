"""Transaction fees: the rule a fee must meet, charging it, and what a sender has committed.

A transaction's `fee` is the total its sender pays, at least `fee_per_byte` (a governed
consensus parameter) times its encoded size. The fee is taken from the sender before the app
call runs, outside the call's overlay, so a call that fails still pays: a transaction that
occupies block space always costs its sender. The block's fees are credited to its proposer
once, after the last transaction (with the block reward), so fees never mint or burn money. A
sender that cannot pay makes the transaction invalid (it is left out while building and
invalidates a block that carries it).
"""

from __future__ import annotations

from collections.abc import Iterable

from learnchain.apps.base import AppError, Bank
from learnchain.core.errors import InvalidTransaction
from learnchain.core.state import Overlay, WorldState
from learnchain.core.types import Transaction


def validate_fee(tx: Transaction, fee_per_byte: int) -> None:
    """Raise InvalidTransaction when the fee is below fee_per_byte × encoded size."""
    if fee_per_byte and tx.fee < fee_per_byte * tx.size:
        raise InvalidTransaction(
            f"fee {tx.fee} is below the minimum {fee_per_byte * tx.size} "
            f"({fee_per_byte} per byte × {tx.size} bytes); sign it again with a higher fee")


def take_fee(overlay: Overlay, tx: Transaction) -> None:
    """Debit `tx.fee` from its sender (the block credits the sum to the proposer with
    `pay_fees`); InvalidTransaction, with nothing written, if the sender cannot pay."""
    if not tx.fee:
        return
    bank = Bank(overlay)
    try:
        bank.debit_fee(tx.sender, tx.fee)
    except AppError:
        raise InvalidTransaction(f"sender 0x{tx.sender.hex()} cannot pay the fee {tx.fee}: "
                                 f"its balance is {bank.balance(tx.sender)}") from None


def pay_fees(overlay: Overlay, proposer: bytes, total: int) -> None:
    """Credit a block's collected fees to its proposer."""
    if total:
        Bank(overlay).credit_fees(proposer, total)


def check_affordable(source: WorldState | Overlay, tx: Transaction,
                     pending: Iterable[Transaction]) -> None:
    """Mempool admission: the sender's balance must cover this transaction's fee plus the fees
    of its transactions already pending. Raises InvalidTransaction.

    Only fees count. A fee is charged whatever the call does, so a transaction whose fee cannot
    be paid can never be included and is spam; a transfer larger than the balance is a
    legitimate transaction (it pays its fee and fails with a receipt), so it is admitted.
    """
    need = tx.fee + sum(p.fee for p in pending)
    if need == 0:
        return
    have = Bank(source).balance(tx.sender)
    if have < need:
        raise InvalidTransaction(
            f"sender 0x{tx.sender.hex()} has balance {have}, less than the fees {need} of this "
            "transaction and its pending ones; fund the account first")
