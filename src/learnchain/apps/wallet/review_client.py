"""Patient review, the wallet side: sealed notes in ``activities/review`` plus the chain facts.

The patient's note is a record like any other; the professional reads it (and writes their
rejection note) through a read-write grant of ``activities/review`` that `flag` makes if the
professional has none, so reasons travel encrypted through the proxies.
"""

from __future__ import annotations

from typing import Any

from learnchain.apps.wallet.client import WalletClient
from learnchain.apps.wallet.review import REVIEW_LAYER
from learnchain.apps.wallet.rules import WalletError, covers, grant_active


def _note(text: str) -> bytes:
    return text.encode()


def flag(patient: WalletClient, wid: bytes, rid: bytes, version: int, reason: str,
         proxies: list[bytes], threshold: int) -> int:
    """Flag one version of a professional's record with a sealed reason; returns the flag."""
    record = patient.history(wid, rid)
    professional = record["versions"][version - 1]["originator"]
    if professional == patient.address:
        raise WalletError("a patient flags what a professional wrote, not their own entry")
    note, _ = patient.add(wid, REVIEW_LAYER, "file", _note(reason), filename="flag.txt")
    height = patient.chain.height()
    if not any(g["grantee"] == professional and g["write"] and grant_active(g, height) is None
               and any(covers(x, REVIEW_LAYER) for x in g["layers"])
               for g in patient.chain.query("grants", {"wallet": wid})):
        patient.grant(wid, professional, [REVIEW_LAYER], proxies, threshold, write=True)
    return int(patient._tx("flag", {"wallet": wid, "record": rid, "version": version,
                                    "note": note})["flag"])


def flags(client: WalletClient, wid: bytes) -> list[dict[str, Any]]:
    return list(client.chain.query("flags", {"wallet": wid}))


def reason(client: WalletClient, wid: bytes, note: bytes) -> str:
    """Read a review note (the patient's or the professional's) through the usual path."""
    return client.read(wid, note).payload.body.decode()


def correct(professional: WalletClient, wid: bytes, n: int, body: bytes) -> int:
    """Answer flag `n` with a new version of the flagged record; returns that version."""
    entry = flags(professional, wid)[n]
    record = professional.history(wid, entry["record"])
    _, version = professional.add(wid, record["layer"], record["rtype"], body,
                                  record=entry["record"])
    professional._tx("answer_flag", {"wallet": wid, "flag": n, "kind": "corrected",
                                     "version": version})
    return version


def reject(professional: WalletClient, wid: bytes, n: int, why: str) -> bytes:
    """Answer flag `n` with a reasoned rejection (a sealed note); returns the note's id."""
    note, _ = professional.add(wid, REVIEW_LAYER, "file", _note(why), filename="answer.txt")
    professional._tx("answer_flag", {"wallet": wid, "flag": n, "kind": "rejected",
                                     "note": note})
    return note
