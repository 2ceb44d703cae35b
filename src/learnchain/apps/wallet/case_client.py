"""Professional collaboration, the wallet side: open a case, invite, consent, contribute.

The patient's consent is the only step that needs the patient's secret key: it sends the
on-chain consent (which creates the case grant) and then hands each proxy its re-encryption
fragment, exactly like `WalletClient.grant`. Colleagues then use `WalletClient.read` and
`WalletClient.add` as for any grant.
"""

from __future__ import annotations

import os
from typing import Any

from learnchain.apps.wallet.cases import CASE_ID_SIZE
from learnchain.apps.wallet.client import WalletClient
from learnchain.apps.wallet.proxy import drop_digest
from learnchain.apps.wallet.rules import WalletError
from learnchain.privacy.errors import PrivacyError
from learnchain.privacy.keys import public_key_from_bytes
from learnchain.privacy.sharing import make_kfrags


def open_case(lead: WalletClient, wid: bytes, layers: list[str]) -> bytes:
    """Treating professional: open a case over layers the patient granted them."""
    cid = os.urandom(CASE_ID_SIZE)
    lead._tx("open_case", {"case": cid, "wallet": wid, "layers": layers})
    return cid


def invite(lead: WalletClient, cid: bytes, colleague: bytes) -> None:
    lead._tx("invite_colleague", {"case": cid, "colleague": colleague})


def consent(patient: WalletClient, cid: bytes, colleague: bytes, proxies: list[bytes],
            threshold: int, *, write: bool = True, expiry: int = 0) -> bytes:
    """Patient: consent on chain (a grant of the case's layers), then deliver fragments."""
    keys = patient.chain.query("keys", {"address": colleague})
    if keys is None:
        raise WalletError("the colleague has not published Umbral keys")
    gid = os.urandom(16)
    patient._tx("consent_colleague", {
        "case": cid, "colleague": colleague, "grant": gid, "grantee_pk": keys["enc"],
        "proxies": proxies, "threshold": threshold, "expiry": expiry, "write": write})
    kfrags = make_kfrags(patient.umbral, public_key_from_bytes(keys["enc"]), threshold,
                         len(proxies))
    patient._deliver(gid, proxies, kfrags)
    return gid


def _drop(patient: WalletClient, gid: bytes) -> list[str]:
    grant = patient.chain.query("grant_info", {"grant": gid})
    problems = []
    for address in grant["proxies"]:
        try:
            patient._proxy(address).drop(gid, patient.key.sign(
                drop_digest(patient.chain.chain_id, gid, address)))
        except (PrivacyError, WalletError) as exc:
            problems.append(f"proxy 0x{address.hex()}: {exc}")
    return problems


def withdraw(patient: WalletClient, cid: bytes, colleague: bytes) -> list[str]:
    """Patient: revoke the colleague's case grant on chain, then have the proxies drop it."""
    case = patient.chain.query("case", {"case": cid})
    member = next((m for m in (case or {}).get("members", []) if m["colleague"] == colleague),
                  None)
    if member is None or member["grant"] is None:
        raise WalletError("that colleague holds no consent in this case")
    patient._tx("withdraw_consent", {"case": cid, "colleague": colleague})
    return _drop(patient, member["grant"])


def close(client: WalletClient, cid: bytes) -> None:
    client._tx("close_case", {"case": cid})


def case(client: WalletClient, cid: bytes) -> dict[str, Any]:
    found = client.chain.query("case", {"case": cid})
    if found is None:
        raise WalletError(f"no case 0x{cid.hex()}")
    return found


def contributors(client: WalletClient, cid: bytes, by: bytes | None = None
                 ) -> list[dict[str, Any]]:
    """The case's contributor log: who added which record version (optionally one person)."""
    args: dict[str, Any] = {"case": cid}
    if by is not None:
        args["by"] = by
    return list(client.chain.query("case_log", args))
