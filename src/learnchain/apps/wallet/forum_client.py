"""Verified forums, the wallet side: pseudonym keys, badges, joining and posting.

The pseudonym key is derived from the patient's wallet secret and the forum id, so the wallet
can always re-derive it and no two forums share it. The professional issuing a badge reads the
patient's condition record through their grant first: a badge attests what a record says.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Any

from learnchain.apps.wallet.client import WalletClient
from learnchain.apps.wallet.forums import FORUM_ID_SIZE, badge_digest
from learnchain.apps.wallet.rules import WalletError
from learnchain.apps.wallet.study_client import profile_from_fhir
from learnchain.core.crypto import PrivateKey


def pseudonym_key(patient: WalletClient, fid: bytes) -> PrivateKey:
    secret = bytes(patient.umbral.secret.to_be_bytes())
    return PrivateKey(hmac.new(secret, b"learnchain/forum/" + fid, hashlib.sha256).digest())


def open_forum(member: WalletClient, condition: str, title: str) -> bytes:
    fid = os.urandom(FORUM_ID_SIZE)
    member._tx("open_forum", {"forum": fid, "condition": condition, "title": title})
    return fid


def issue_badge(professional: WalletClient, fid: bytes, pseudonym: bytes, wid: bytes,
                record: bytes) -> bytes:
    """Sign (forum, pseudonym, condition) after reading the patient's condition record."""
    import json

    forum = professional.chain.query("forum", {"forum": fid})
    if forum is None:
        raise WalletError("no such forum")
    body = json.loads(professional.read(wid, record).payload.body)
    if forum["condition"] not in profile_from_fhir([body]).conditions:
        raise WalletError("the record does not show the forum's condition")
    return professional.key.sign(badge_digest(professional.chain.chain_id, fid, pseudonym,
                                              forum["condition"]))


def join(patient: WalletClient, fid: bytes, badge: bytes) -> bytes:
    key = pseudonym_key(patient, fid)
    patient.chain.wait(patient.chain.send(key, "wallet", "join_forum",
                                          {"forum": fid, "badge": badge}))
    return key.address


def post(patient: WalletClient, fid: bytes, text: bytes) -> int:
    key = pseudonym_key(patient, fid)
    cid = patient.content.put(text)
    return int(patient.chain.wait(patient.chain.send(key, "wallet", "post",
                                                     {"forum": fid, "cid": cid}))["post"])


def members(client: WalletClient, fid: bytes) -> list[dict[str, Any]]:
    return list(client.chain.query("forum_members", {"forum": fid}))
