"""Studies with rewards (seed §3.2.2-3): the chain side, mixed into the wallet app.

A researcher whom an institution authorised publishes a study: eligibility criteria over
profile data (a condition code and an age range at a reference date), the fields a participant
shares, a reward per participant escrowed through the bank, a number of slots and a deadline
height. The chain never sees profile data, so it cannot match: every patient's wallet reads the
published criteria and evaluates them on its own decrypted profile (`study_client.matches`).
A non-participant therefore sends nothing and the study learns nothing about them.

A patient opts in by writing a derived record in the study's sublayer
``activities/study:<id>`` (only the requested fields, see `study_client.derive`), granting the
researcher exactly that sublayer through the existing proxy grants, and calling `join_study`
with a per-study participant id P = HMAC(wallet secret, study id) — the study's roster and the
derived record carry P, not the patient's address. Delivery is what the chain can see: a
registered proxy logging a read of the participant's record under the study grant
(`log_access` calls `note_study_delivery`). Only then may the patient `claim_study`, once.
`withdraw_study` revokes the grant and deletes the derived record (proxies stop serving it);
after the deadline `close_study` returns the escrow not owed to delivered participants.

State (namespace `wallet/`): `study/{sid}`, `studyn` + `studyi/{n}` (index), `studyp/{sid}/{pid}`,
`studyr/{sid}/{n}` (roster of participant ids), `studyw/{sid}/{wid}` (one participation per
wallet), `studyg/{gid}` (grant → study, participant).
"""

from __future__ import annotations

import re
from typing import Any

from learnchain.apps.base import Args, CallContext, query_method, tx_method
from learnchain.apps.identity import has_role
from learnchain.apps.wallet.rules import WalletError, authorised_for_identification
from learnchain.core.state import StateView

STUDY_ID_SIZE = 8
MAX_SLOTS = 100_000
BASE_FIELDS = frozenset({"age_band", "sex", "condition"})
_OBS_FIELD = re.compile(r"^obs:[A-Za-z0-9.-]{1,32}$")
_CODE = re.compile(r"^[A-Za-z0-9.-]{1,32}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def study_layer(sid: bytes) -> str:
    """The sublayer a study's derived records live in (and the only one its grants name)."""
    return f"activities/study:{sid.hex()}"


def validate_criteria(criteria: dict[str, Any]) -> dict[str, Any]:
    """Eligibility: a condition code and an inclusive age range at a reference date."""
    if not isinstance(criteria, dict) or set(criteria) != {"condition", "age_min", "age_max",
                                                           "reference_date"}:
        raise WalletError("criteria are {condition, age_min, age_max, reference_date}")
    code, lo, hi, ref = (criteria["condition"], criteria["age_min"], criteria["age_max"],
                         criteria["reference_date"])
    if not isinstance(code, str) or not _CODE.match(code):
        raise WalletError("criteria.condition is a code of 1..32 letters, digits, '.' or '-'")
    if not (isinstance(lo, int) and isinstance(hi, int) and 0 <= lo <= hi <= 150):
        raise WalletError("criteria need integer ages with 0 <= age_min <= age_max <= 150")
    if not isinstance(ref, str) or not _DATE.match(ref):
        raise WalletError("criteria.reference_date is YYYY-MM-DD")
    return {"condition": code, "age_min": lo, "age_max": hi, "reference_date": ref}


def validate_fields(fields: list[Any]) -> list[str]:
    """What a participant shares: `age_band`, `sex`, `condition`, or `obs:<code>` (the
    variations of that observation, not its raw values)."""
    if not isinstance(fields, list) or not 1 <= len(fields) <= 8 or len(set(fields)) != len(
            fields):
        raise WalletError("a study requests 1..8 distinct fields")
    for field in fields:
        if not isinstance(field, str) or not (field in BASE_FIELDS or _OBS_FIELD.match(field)):
            raise WalletError(f"unknown study field {field!r}: use {sorted(BASE_FIELDS)} or "
                              "obs:<code>")
    return list(fields)


class StudiesMixin:
    """Transactions and queries of studies; `WalletApp` inherits them."""

    @staticmethod
    def _study(state: StateView, sid: bytes) -> dict[str, Any]:
        study = state.get("study/" + sid.hex())
        if study is None:
            raise WalletError(f"no study 0x{sid.hex()}")
        return study

    @staticmethod
    def _participant(state: StateView, sid: bytes, pid: bytes) -> dict[str, Any]:
        entry = state.get(f"studyp/{sid.hex()}/{pid.hex()}")
        if entry is None:
            raise WalletError("no such participant in this study")
        return entry

    @tx_method
    def publish_study(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        """An authorised researcher escrows reward × slots and publishes the criteria."""
        a = Args(args)
        state, identity = ctx.state, ctx.read("identity")
        if not has_role(identity, ctx.sender, "researcher"):
            raise WalletError("only identities registered as researcher publish studies")
        if not authorised_for_identification(state, identity, ctx.sender):
            raise WalletError("the researcher needs an institution's authorisation "
                              "(wallet authorise) to publish a study")
        sid = a.bytes("study", size=STUDY_ID_SIZE)
        if state.has("study/" + sid.hex()):
            raise WalletError("a study with this id exists")
        criteria = validate_criteria(a.dict("criteria"))
        fields = validate_fields(a.list("fields"))
        reward, slots = a.int("reward", minimum=1), a.int("slots", minimum=1)
        deadline = a.int("deadline", minimum=1)
        if slots > MAX_SLOTS:
            raise WalletError(f"at most {MAX_SLOTS} slots")
        if deadline <= ctx.block.height:
            raise WalletError("the deadline height has passed already")
        ctx.bank.deposit("study/" + sid.hex(), reward * slots)
        state.set("study/" + sid.hex(), {
            "id": sid, "researcher": ctx.sender, "criteria": criteria, "fields": fields,
            "reward": reward, "slots": slots, "deadline": deadline, "layer": study_layer(sid),
            "published": ctx.block.height, "joined": 0, "rostered": 0, "delivered": 0, "paid": 0,
            "refunded": None})
        n = state.get("studyn", 0)
        state.set(f"studyi/{n}", sid)
        state.set("studyn", n + 1)
        ctx.emit("study", study=sid, researcher=ctx.sender)
        return {"study": sid, "escrow": reward * slots}

    @tx_method
    def join_study(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        """Opt in: the study grant and the derived record exist, name exactly the study's
        sublayer and the study's researcher; one participation per wallet and per id."""
        a = Args(args)
        state = ctx.state
        sid, pid = a.bytes("study", size=STUDY_ID_SIZE), a.bytes("participant", size=32)
        wid, gid, rid = (a.bytes("wallet", size=20), a.bytes("grant", size=16),
                         a.bytes("record", size=16))
        study = self._study(state, sid)
        if ctx.block.height >= study["deadline"] or study["refunded"] is not None:
            raise WalletError("the study is past its deadline")
        if study["joined"] >= study["slots"]:
            raise WalletError("the study has no free slot")
        wallet = state.get("w/" + wid.hex())
        if wallet is None or wallet["owner"] != ctx.sender:
            raise WalletError("only the wallet's owner opts it into a study")
        if state.has(f"studyw/{sid.hex()}/{wid.hex()}"):
            raise WalletError("this wallet takes part in the study already")
        if state.has(f"studyp/{sid.hex()}/{pid.hex()}"):
            raise WalletError("this participant id is taken")
        grant = state.get("grant/" + gid.hex())
        if (grant is None or grant["wallet"] != wid or grant["kind"] != "share"
                or grant["grantee"] != study["researcher"] or grant["revoked"] is not None
                or grant["layers"] != [study["layer"]] or grant["write"]):
            raise WalletError("the grant must be the wallet's live read-only grant of exactly "
                              f"{study['layer']!r} to the study's researcher")
        if state.has("studyg/" + gid.hex()):
            raise WalletError("that grant serves another participation")
        record = state.get(f"rec/{wid.hex()}/{rid.hex()}")
        if record is None or record["deleted"] is not None or record["layer"] != study["layer"]:
            raise WalletError(f"the derived record must be a live record in {study['layer']!r}")
        n = study["rostered"]
        state.set(f"studyp/{sid.hex()}/{pid.hex()}", {
            "wallet": wid, "grant": gid, "record": rid,
            "joined": ctx.block.height, "delivered": None, "paid": None, "withdrawn": None})
        state.set(f"studyr/{sid.hex()}/{n}", pid)
        state.set(f"studyw/{sid.hex()}/{wid.hex()}", pid)
        state.set("studyg/" + gid.hex(), {"study": sid, "participant": pid})
        study["joined"] += 1
        study["rostered"] = n + 1
        state.set("study/" + sid.hex(), study)
        ctx.emit("joined", study=sid, participant=pid)
        return {"participant": pid}

    @staticmethod
    def note_study_delivery(state: StateView, grant: bytes, record: bytes, height: int) -> None:
        """Called by `log_access` once the chain re-checked a proxied read: the first logged
        read of a participant's derived record before the deadline is its delivery."""
        link = state.get("studyg/" + grant.hex())
        if link is None:
            return
        sid, pid = link["study"], link["participant"]
        key = f"studyp/{sid.hex()}/{pid.hex()}"
        entry = state.get(key)
        study = state.get("study/" + sid.hex())
        if entry["delivered"] is not None or entry["record"] != record:
            return
        if height >= study["deadline"]:
            return
        entry["delivered"] = height
        state.set(key, entry)
        study["delivered"] += 1
        state.set("study/" + sid.hex(), study)

    @tx_method
    def claim_study(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        """The participant is paid the reward once, after the delivery was logged."""
        a = Args(args)
        sid, pid = a.bytes("study", size=STUDY_ID_SIZE), a.bytes("participant", size=32)
        study = self._study(ctx.state, sid)
        entry = self._participant(ctx.state, sid, pid)
        wallet = ctx.state.get("w/" + entry["wallet"].hex())
        if wallet["owner"] != ctx.sender:
            raise WalletError("only the participating wallet's owner claims its reward")
        if entry["delivered"] is None:
            raise WalletError("no delivery is logged: the researcher has not read the study "
                              "record through the proxies yet")
        if entry["paid"] is not None:
            raise WalletError(f"the reward was paid already at height {entry['paid']}")
        entry["paid"] = ctx.block.height
        ctx.state.set(f"studyp/{sid.hex()}/{pid.hex()}", entry)
        study["paid"] += 1
        ctx.state.set("study/" + sid.hex(), study)
        ctx.bank.release("study/" + sid.hex(), ctx.sender, study["reward"])
        ctx.emit("paid", study=sid, participant=pid, amount=study["reward"])
        return {"paid": study["reward"]}

    @tx_method
    def withdraw_study(self, ctx: CallContext, args: dict[str, Any]) -> None:
        """Leave: the study grant is revoked and the derived record deleted (unpinned), so
        proxies refuse every later read. A delivered participant may still claim."""
        a = Args(args)
        sid, pid = a.bytes("study", size=STUDY_ID_SIZE), a.bytes("participant", size=32)
        study = self._study(ctx.state, sid)
        key = f"studyp/{sid.hex()}/{pid.hex()}"
        entry = self._participant(ctx.state, sid, pid)
        wallet = ctx.state.get("w/" + entry["wallet"].hex())
        if wallet["owner"] != ctx.sender:
            raise WalletError("only the participating wallet's owner withdraws it")
        if entry["withdrawn"] is not None:
            raise WalletError("the participant withdrew already")
        entry["withdrawn"] = ctx.block.height
        ctx.state.set(key, entry)
        grant = ctx.state.get("grant/" + entry["grant"].hex())
        if grant["revoked"] is None:
            grant["revoked"] = ctx.block.height
            ctx.state.set("grant/" + entry["grant"].hex(), grant)
        rkey = f"rec/{entry['wallet'].hex()}/{entry['record'].hex()}"
        record = ctx.state.get(rkey)
        if record["deleted"] is None:
            record["deleted"] = {"by": ctx.sender, "height": ctx.block.height}
            ctx.state.set(rkey, record)
            for version in record["versions"]:
                self._feed(ctx.state, version["cid"], "unpin")  # type: ignore[attr-defined]
        if entry["delivered"] is None:
            study["joined"] -= 1  # the slot is free again
            ctx.state.set("study/" + sid.hex(), study)
        ctx.emit("withdrawn", study=sid, participant=pid)

    @tx_method
    def close_study(self, ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
        """After the deadline: escrow not owed to delivered participants returns."""
        sid = Args(args).bytes("study", size=STUDY_ID_SIZE)
        study = self._study(ctx.state, sid)
        if ctx.sender != study["researcher"]:
            raise WalletError("only the study's researcher closes it")
        if ctx.block.height < study["deadline"]:
            raise WalletError(f"the study can close at height {study['deadline']}")
        if study["refunded"] is not None:
            raise WalletError("the study was closed already")
        owed = study["reward"] * (study["delivered"] - study["paid"])
        refund = ctx.bank.escrow_balance("study/" + sid.hex()) - owed
        if refund:
            ctx.bank.release("study/" + sid.hex(), ctx.sender, refund)
        study["refunded"] = refund
        ctx.state.set("study/" + sid.hex(), study)
        ctx.emit("closed", study=sid, refund=refund)
        return {"refund": refund}

    @query_method
    def study(self, state: StateView, args: dict[str, Any]) -> Any:
        return state.get("study/" + Args(args).bytes("study", size=STUDY_ID_SIZE).hex())

    @query_method
    def studies(self, state: StateView, args: dict[str, Any]) -> list[Any]:
        """Every published study: what a patient's wallet matches against locally."""
        ids = state.get_many([str(i) for i in range(state.get("studyn", 0))], prefix="studyi/")
        return [state.get("study/" + sid.hex()) for sid in ids]

    @query_method
    def participants(self, state: StateView, args: dict[str, Any]) -> list[Any]:
        """The roster: per-study participant ids with their status and study grant."""
        sid = Args(args).bytes("study", size=STUDY_ID_SIZE)
        study = self._study(state, sid)
        out = []
        count = state.get_many([f"{sid.hex()}/{i}" for i in range(study["rostered"])],
                               prefix="studyr/")
        for pid in count:
            out.append({"participant": pid, **state.get(f"studyp/{sid.hex()}/{pid.hex()}")})
        return out

    @query_method
    def participation(self, state: StateView, args: dict[str, Any]) -> Any:
        a = Args(args)
        return state.get(f"studyp/{a.bytes('study', size=STUDY_ID_SIZE).hex()}/"
                         f"{a.bytes('participant', size=32).hex()}")
