"""Patient review (seed §3.1.4): a patient flags an inconsistency, the professional answers.

The chain side (mixed into the wallet app) keeps an append-only list of flags per wallet. A flag
names a record version a professional wrote and a note: a sealed record the patient wrote in
the ``activities/review`` sublayer, so the reason never appears in clear on chain. The version's
originator answers once, either with a *correction* (a newer version of the same record that
they wrote: versions are appended, never overwritten) or a *reasoned rejection* (a sealed note
they wrote in ``activities/review``). Flag, answer, flagged and corrected versions all stay.

State (namespace `wallet/`): `flagn/{wid}` and `flag/{wid}/{n}`.
"""

from __future__ import annotations

from typing import Any

from learnchain.apps.base import Args, CallContext, query_method, tx_method
from learnchain.apps.wallet.rules import WalletError
from learnchain.core.state import StateView

REVIEW_LAYER = "activities/review"
ANSWERS = ("corrected", "rejected")


def _live_record(state: StateView, wid: bytes, rid: bytes) -> dict[str, Any]:
    record = state.get(f"rec/{wid.hex()}/{rid.hex()}")
    if record is None or record["deleted"] is not None:
        raise WalletError("no such live record in this wallet")
    return record


class ReviewMixin:
    """Transactions and queries of patient review; `WalletApp` inherits them."""

    @tx_method
    def flag(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        a = Args(args)
        state = ctx.state
        wid, rid, note = (a.bytes("wallet", size=20), a.bytes("record", size=16),
                          a.bytes("note", size=16))
        version = a.int("version", minimum=1)
        wallet = state.get("w/" + wid.hex())
        if wallet is None or wallet["owner"] != ctx.sender:
            raise WalletError("only the wallet's owner flags its records")
        record = _live_record(state, wid, rid)
        if version > len(record["versions"]):
            raise WalletError(f"the record has no version {version}")
        professional = record["versions"][version - 1]["originator"]
        if professional == ctx.sender:
            raise WalletError("a patient flags what a professional wrote, not their own entry")
        note_record = _live_record(state, wid, note)
        if note_record["layer"] != REVIEW_LAYER or note_record["versions"][0][
                "originator"] != ctx.sender:
            raise WalletError(f"the note must be the patient's record in {REVIEW_LAYER!r}")
        n = state.get("flagn/" + wid.hex(), 0)
        state.set(f"flag/{wid.hex()}/{n}", {
            "record": rid, "version": version, "professional": professional, "note": note,
            "height": ctx.block.height, "answer": None})
        state.set("flagn/" + wid.hex(), n + 1)
        ctx.emit("flagged", wallet=wid, flag=n, professional=professional)
        return {"flag": n}

    @tx_method
    def answer_flag(self, ctx: CallContext, args: dict[str, Any]) -> None:
        """`corrected` names the new version; `rejected` names the professional's note."""
        a = Args(args)
        state = ctx.state
        wid, n, kind = a.bytes("wallet", size=20), a.int("flag"), a.str("kind")
        key = f"flag/{wid.hex()}/{n}"
        entry = state.get(key)
        if entry is None:
            raise WalletError("no such flag")
        if entry["professional"] != ctx.sender:
            raise WalletError("only the professional who wrote the flagged version answers")
        if entry["answer"] is not None:
            raise WalletError("the flag was answered already")
        answer: dict[str, Any] = {"kind": kind, "height": ctx.block.height}
        if kind == "corrected":
            version = a.int("version", minimum=1)
            record = _live_record(state, wid, entry["record"])
            if not entry["version"] < version <= len(record["versions"]):
                raise WalletError("a correction is a newer version of the flagged record")
            if record["versions"][version - 1]["originator"] != ctx.sender:
                raise WalletError("the correcting version must be the professional's own")
            answer["version"] = version
        elif kind == "rejected":
            note = a.bytes("note", size=16)
            record = _live_record(state, wid, note)
            if record["layer"] != REVIEW_LAYER or record["versions"][0][
                    "originator"] != ctx.sender:
                raise WalletError(f"a rejection's reason is the professional's record in "
                                  f"{REVIEW_LAYER!r}")
            answer["note"] = note
        else:
            raise WalletError(f"kind is one of {', '.join(ANSWERS)}")
        entry["answer"] = answer
        state.set(key, entry)
        ctx.emit("answered", wallet=wid, flag=n, answer=kind)

    @query_method
    def flags(self, state: StateView, args: dict[str, Any]) -> list[Any]:
        wid = Args(args).bytes("wallet", size=20)
        return [state.get(f"flag/{wid.hex()}/{i}")
                for i in range(state.get("flagn/" + wid.hex(), 0))]
