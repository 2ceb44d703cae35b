"""Institution rewards, the client side: open a programme, find and claim qualifying records.

The chain decides what qualifies (`rewards.qualifying_version`, a pure rule over the record's
metadata: originator, type, layer, height); `claim_all` claims every candidate record.
"""

from __future__ import annotations

import os
from typing import Any

from learnchain.apps.wallet.client import WalletClient
from learnchain.apps.wallet.rewards import REWARD_ID_SIZE
from learnchain.apps.wallet.rules import WalletError


def open_programme(funder: WalletClient, rtype: str, amount: int, slots: int, deadline: int,
                   *, layer: str = "profile", institutions: list[bytes] | None = None) -> bytes:
    pid = os.urandom(REWARD_ID_SIZE)
    funder._tx("open_reward", {"programme": pid, "rtype": rtype, "layer": layer,
                               "amount": amount, "slots": slots, "deadline": deadline,
                               "institutions": institutions or []})
    return pid


def programme(client: WalletClient, pid: bytes) -> dict[str, Any]:
    found = client.chain.query("reward_programme", {"programme": pid})
    if found is None:
        raise WalletError(f"no reward programme 0x{pid.hex()}")
    return found


def claim(patient: WalletClient, pid: bytes, wid: bytes, rid: bytes) -> int:
    return int(patient._tx("reward_claim", {"programme": pid, "wallet": wid,
                                            "record": rid})["paid"])


def claim_all(patient: WalletClient, pid: bytes, wid: bytes) -> list[bytes]:
    """Claim every record of the wallet of the programme's type and layer not yet rewarded;
    the chain decides what qualifies (refusals are skipped). Returns the rewarded records."""
    found = programme(patient, pid)
    paid = []
    for record in patient.records(wid, found["layer"]):
        if record["rtype"] != found["rtype"] or record["deleted"] is not None:
            continue
        if patient.chain.query("reward_claimed", {"programme": pid, "wallet": wid,
                                                  "record": record["record"]}) is not None:
            continue
        try:
            claim(patient, pid, wid, record["record"])
        except WalletError:
            continue
        paid.append(bytes(record["record"]))
    return paid


def close(funder: WalletClient, pid: bytes) -> int:
    return int(funder._tx("close_reward", {"programme": pid})["refund"])
