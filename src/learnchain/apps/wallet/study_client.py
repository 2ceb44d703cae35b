"""Studies, the wallet side: local matching, derived records, opt-in, collection, payment.

Everything that touches profile data runs in the patient's own wallet: `my_profile` decrypts
the patient's records with the owner key, `matches` evaluates a study's criteria on them, and
`derive` builds the study record holding only the requested fields. What leaves the wallet is
that derived record, sealed like any record and re-encrypted to the researcher by the proxies.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field
from datetime import date
from itertools import pairwise
from typing import Any

from learnchain.apps.wallet.client import WalletClient
from learnchain.apps.wallet.rules import WalletError
from learnchain.apps.wallet.studies import STUDY_ID_SIZE, study_layer


@dataclass
class Profile:
    """What matching needs from a wallet: decoded locally, never sent anywhere."""

    birth_date: str = ""
    sex: str = ""
    conditions: list[str] = field(default_factory=list)
    observations: dict[str, list[float]] = field(default_factory=dict)


def _code(concept: dict[str, Any] | None) -> str:
    for coding in (concept or {}).get("coding", []):
        if coding.get("code"):
            return str(coding["code"])
    return ""


def profile_from_fhir(documents: list[dict[str, Any]]) -> Profile:
    """Patient (birth date, sex), Condition codes and Observation series, in document order."""
    profile = Profile()
    for doc in documents:
        kind = doc.get("resourceType")
        if kind == "Patient":
            profile.birth_date = doc.get("birthDate", "")
            profile.sex = doc.get("gender", "")
        elif kind == "Condition" and _code(doc.get("code")):
            profile.conditions.append(_code(doc.get("code")))
        elif kind == "Observation" and "valueQuantity" in doc:
            series = profile.observations.setdefault(_code(doc.get("code")), [])
            series.append(float(doc["valueQuantity"]["value"]))
    return profile


def age_at(birth_date: str, reference: str) -> int:
    born, ref = date.fromisoformat(birth_date), date.fromisoformat(reference)
    return ref.year - born.year - ((ref.month, ref.day) < (born.month, born.day))


def matches(criteria: dict[str, Any], profile: Profile) -> bool:
    """The eligibility rule, evaluated by the patient's wallet on its own profile."""
    if not profile.birth_date or criteria["condition"] not in profile.conditions:
        return False
    age = age_at(profile.birth_date, criteria["reference_date"])
    return criteria["age_min"] <= age <= criteria["age_max"]


def participant_id(secret: bytes, sid: bytes) -> bytes:
    """P = HMAC-SHA256(wallet secret, study id): stable per (wallet, study), so the same
    wallet cannot join twice under two ids, and unrelated across studies to anyone without the
    secret."""
    return hmac.new(secret, b"learnchain/study/" + sid, hashlib.sha256).digest()


def derive(study: dict[str, Any], profile: Profile, pid: bytes) -> dict[str, Any]:
    """The study record: the participant id and exactly the requested fields. `obs:<code>`
    shares the variations (successive differences) of that observation, not its values."""
    out: dict[str, Any] = {"study": study["id"].hex(), "participant": pid.hex()}
    for name in study["fields"]:
        if name == "age_band":
            age = age_at(profile.birth_date, study["criteria"]["reference_date"])
            out[name] = f"{age // 10 * 10}-{age // 10 * 10 + 9}"
        elif name == "sex":
            out[name] = profile.sex
        elif name == "condition":
            out[name] = study["criteria"]["condition"]
        else:
            series = profile.observations.get(name[4:], [])
            out[name] = [round(b - a, 6) for a, b in pairwise(series)]
    return out


# --- researcher --------------------------------------------------------------------------
def publish(researcher: WalletClient, criteria: dict[str, Any], fields: list[str], reward: int,
            slots: int, deadline: int) -> bytes:
    sid = os.urandom(STUDY_ID_SIZE)
    researcher._tx("publish_study", {"study": sid, "criteria": criteria, "fields": fields,
                                     "reward": reward, "slots": slots, "deadline": deadline})
    return sid


def collect(researcher: WalletClient, sid: bytes) -> dict[bytes, dict[str, Any]]:
    """Read every live participant's derived record through the proxies (each read is the
    delivery the chain logs). Returns participant id → derived record."""
    out = {}
    for entry in researcher.chain.query("participants", {"study": sid}):
        if entry["withdrawn"] is not None:
            continue
        read = researcher.read(entry["wallet"], entry["record"], grant=entry["grant"])
        out[bytes(entry["participant"])] = json.loads(read.payload.body)
    return out


def close(researcher: WalletClient, sid: bytes) -> int:
    return int(researcher._tx("close_study", {"study": sid})["refund"])


# --- patient -----------------------------------------------------------------------------
def my_profile(patient: WalletClient, wid: bytes) -> Profile:
    """Decrypt the patient's own identification and profile records (owner key only)."""
    docs = []
    for record in patient.records(wid):
        if record["deleted"] is not None or record["rtype"] == "file":
            continue
        if record["layer"].split("/", 1)[0] not in ("identification", "profile"):
            continue
        docs.append(json.loads(patient.read(wid, record["record"]).payload.body))
    return profile_from_fhir(docs)


def eligible_studies(patient: WalletClient, profile: Profile) -> list[dict[str, Any]]:
    """Open studies whose criteria this profile meets: evaluated here, told to nobody."""
    height = patient.chain.height()
    return [s for s in patient.chain.query("studies", {})
            if s["deadline"] > height and s["refunded"] is None and s["joined"] < s["slots"]
            and matches(s["criteria"], profile)]


def opt_in(patient: WalletClient, wid: bytes, study: dict[str, Any], profile: Profile,
           proxies: list[bytes], threshold: int) -> bytes:
    """Derived record → study sublayer, read grant of that sublayer to the researcher, join."""
    if not matches(study["criteria"], profile):
        raise WalletError("this profile does not meet the study's criteria")
    sid = bytes(study["id"])
    pid = participant_id(bytes(patient.umbral.secret.to_be_bytes()), sid)
    body = json.dumps(derive(study, profile, pid), sort_keys=True).encode()
    rid, _ = patient.add(wid, study_layer(sid), "file", body, filename="study.json")
    gid = patient.grant(wid, study["researcher"], [study_layer(sid)], proxies, threshold)
    patient._tx("join_study", {"study": sid, "participant": pid, "wallet": wid, "grant": gid,
                               "record": rid})
    return pid


def claim(patient: WalletClient, sid: bytes, pid: bytes) -> int:
    return int(patient._tx("claim_study", {"study": sid, "participant": pid})["paid"])


def withdraw(patient: WalletClient, sid: bytes, pid: bytes) -> None:
    """Withdraw on chain (grant revoked, record deleted), then have proxies drop fragments."""
    from learnchain.apps.wallet.proxy import drop_digest

    entry = patient.chain.query("participation", {"study": sid, "participant": pid})
    if entry is None:
        raise WalletError("no such participation")
    patient._tx("withdraw_study", {"study": sid, "participant": pid})
    grant = patient.chain.query("grant_info", {"grant": entry["grant"]})
    for address in grant["proxies"]:
        patient._proxy(address).drop(entry["grant"], patient.key.sign(
            drop_digest(patient.chain.chain_id, entry["grant"], address)))
