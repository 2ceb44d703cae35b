"""Institution rewards (seed §3.2.1): an institution (e.g. an insurer) pays patients for a
verified behaviour. The chain side, mixed into the wallet app.

A consortium member or registered institution opens a reward *programme*: the record type that
qualifies (e.g. ``Encounter`` for a check-up), the layer it must live in (e.g. ``profile``), the
amount per qualifying record, how many records it pays at most, a deadline height, and
optionally the institutions whose professionals count. ``amount × slots`` moves from the funder
into the escrow ``wallet/reward/<id>``.

A record *qualifies* when one of its versions was added — between the programme's opening and
its deadline — by a registered professional whom an institution authorised (`wallet.authorise`;
the programme's institutions if it names any), never by the patient; the record's type and
layer match the programme. The chain sees exactly this metadata (originator, type, layer,
height), so it can verify the claim without reading the record. The wallet's owner claims once
per qualifying record (`reward_claim`); after the deadline the funder takes back what was not
paid (`close_reward`). The insurer learns that this wallet had such a record at that height
(the claim is signed by the wallet's owner): a claim is pseudonymous, not anonymous.

State (namespace `wallet/`): `reward/{pid}`; `rewardc/{pid}/{wid}/{rid}` (claimed).
"""

from __future__ import annotations

from typing import Any

from learnchain.apps.base import Args, CallContext, query_method, tx_method
from learnchain.apps.identity import has_role, is_member
from learnchain.apps.wallet import rules
from learnchain.apps.wallet.rules import WalletError
from learnchain.core.state import StateView
from learnchain.privacy.records import RECORD_TYPES

REWARD_ID_SIZE = 8
MAX_REWARD_SLOTS = 1_000_000
MAX_INSTITUTIONS = 16


def qualifying_version(state: StateView, identity: StateView, programme: dict[str, Any],
                       wallet: dict[str, Any], record: dict[str, Any]) -> int:
    """The first version of `record` that qualifies for `programme` (1-based), else raise
    `WalletError` naming why none does. Pure: reads state only."""
    if record["deleted"] is not None:
        raise WalletError("the record was deleted")
    if record["rtype"] != programme["rtype"]:
        raise WalletError(f"the programme pays for {programme['rtype']} records, "
                          f"not {record['rtype']}")
    if not rules.covers(programme["layer"], record["layer"]):
        raise WalletError(f"the record is in {record['layer']!r}, not in "
                          f"{programme['layer']!r}")
    why = "no version was added in the programme's window"
    for i, entry in enumerate(record["versions"], start=1):
        if not programme["opened"] <= entry["height"] < programme["deadline"]:
            continue
        by = entry["originator"]
        if by == wallet["owner"]:
            why = "the patient's own entries do not qualify"
            continue
        if not has_role(identity, by, "professional"):
            why = "the record's author is not a registered professional"
            continue
        auth = state.get("auth/" + by.hex())
        if not auth or not (is_member(identity, auth["by"])
                            or has_role(identity, auth["by"], "institution")):
            why = "the record's author is not authorised by an institution"
            continue
        if programme["institutions"] and auth["by"] not in programme["institutions"]:
            why = "the record's author is not authorised by one of the programme's institutions"
            continue
        return i
    raise WalletError(f"the record does not qualify: {why}")


class RewardsMixin:
    """Transactions and queries of institution rewards; `WalletApp` inherits them."""

    @staticmethod
    def _programme(state: StateView, pid: bytes) -> dict[str, Any]:
        programme = state.get("reward/" + pid.hex())
        if programme is None:
            raise WalletError(f"no reward programme 0x{pid.hex()}")
        return programme

    @tx_method
    def open_reward(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        """An institution escrows amount × slots for records of a type added by authorised
        professionals."""
        self._require_member_or_institution(ctx)  # type: ignore[attr-defined]
        a = Args(args)
        state = ctx.state
        pid = a.bytes("programme", size=REWARD_ID_SIZE)
        if state.has("reward/" + pid.hex()):
            raise WalletError("a reward programme with this id exists")
        rtype = a.str("rtype")
        if rtype not in RECORD_TYPES or rtype == "file":
            raise WalletError("rtype is a FHIR record type: "
                              + ", ".join(t for t in RECORD_TYPES if t != "file"))
        layer = rules.validate_layer(a.str("layer", default="profile", max_len=64))
        amount, slots = a.int("amount", minimum=1), a.int("slots", minimum=1)
        deadline = a.int("deadline", minimum=1)
        institutions = a.list("institutions", default=[])
        if slots > MAX_REWARD_SLOTS:
            raise WalletError(f"at most {MAX_REWARD_SLOTS} slots")
        if deadline <= ctx.block.height:
            raise WalletError("the deadline height has passed already")
        if len(institutions) > MAX_INSTITUTIONS or any(
                not isinstance(x, bytes) or len(x) != 20 for x in institutions):
            raise WalletError(f"institutions are up to {MAX_INSTITUTIONS} 20-byte addresses")
        ctx.bank.deposit("reward/" + pid.hex(), amount * slots)
        state.set("reward/" + pid.hex(), {
            "id": pid, "funder": ctx.sender, "rtype": rtype, "layer": layer, "amount": amount,
            "slots": slots, "deadline": deadline, "institutions": institutions,
            "opened": ctx.block.height, "paid": 0, "refunded": None})
        ctx.emit("reward", programme=pid, funder=ctx.sender)
        return {"programme": pid, "escrow": amount * slots}

    @tx_method
    def reward_claim(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        """The wallet's owner is paid once per qualifying record."""
        a = Args(args)
        state = ctx.state
        pid, wid, rid = (a.bytes("programme", size=REWARD_ID_SIZE), a.bytes("wallet", size=20),
                         a.bytes("record", size=16))
        programme = self._programme(state, pid)
        if programme["refunded"] is not None:
            raise WalletError("the programme is closed")
        if ctx.block.height >= programme["deadline"]:
            raise WalletError("the programme is past its deadline")
        wallet = state.get("w/" + wid.hex())
        if wallet is None or wallet["owner"] != ctx.sender:
            raise WalletError("only the wallet's owner claims its rewards")
        claimed = f"rewardc/{pid.hex()}/{wid.hex()}/{rid.hex()}"
        if state.has(claimed):
            raise WalletError(f"this record was rewarded already at height "
                              f"{state.get(claimed)['height']}")
        if programme["paid"] >= programme["slots"]:
            raise WalletError("the programme has paid all its slots")
        record = state.get(f"rec/{wid.hex()}/{rid.hex()}")
        if record is None:
            raise WalletError("no such record in this wallet")
        version = qualifying_version(state, ctx.read("identity"), programme, wallet, record)
        state.set(claimed, {"height": ctx.block.height, "version": version})
        programme["paid"] += 1
        state.set("reward/" + pid.hex(), programme)
        ctx.bank.release("reward/" + pid.hex(), ctx.sender, programme["amount"])
        ctx.emit("rewarded", programme=pid, wallet=wid, record=rid, amount=programme["amount"])
        return {"paid": programme["amount"], "version": version}

    @tx_method
    def close_reward(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        """After the deadline the funder takes back the unspent escrow."""
        pid = Args(args).bytes("programme", size=REWARD_ID_SIZE)
        programme = self._programme(ctx.state, pid)
        if ctx.sender != programme["funder"]:
            raise WalletError("only the programme's funder closes it")
        if ctx.block.height < programme["deadline"]:
            raise WalletError(f"the programme can close at height {programme['deadline']}")
        if programme["refunded"] is not None:
            raise WalletError("the programme was closed already")
        refund = ctx.bank.escrow_balance("reward/" + pid.hex())
        if refund:
            ctx.bank.release("reward/" + pid.hex(), ctx.sender, refund)
        programme["refunded"] = refund
        ctx.state.set("reward/" + pid.hex(), programme)
        ctx.emit("reward-closed", programme=pid, refund=refund)
        return {"refund": refund}

    @query_method
    def reward_programme(self, state: StateView, args: dict[str, Any]) -> Any:
        return state.get("reward/" + Args(args).bytes("programme", size=REWARD_ID_SIZE).hex())

    @query_method
    def reward_claimed(self, state: StateView, args: dict[str, Any]) -> Any:
        a = Args(args)
        return state.get(f"rewardc/{a.bytes('programme', size=REWARD_ID_SIZE).hex()}/"
                         f"{a.bytes('wallet', size=20).hex()}/{a.bytes('record', size=16).hex()}")
