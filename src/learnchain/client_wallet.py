"""Wallet interaction models in the Python client (`learnchain.client.Client` inherits this).

Reads use the dedicated `/v1/wallet/…` routes; writes are transactions signed here and
submitted like any other. Methods that need a wallet's secret material — matching a profile,
deriving a study record, sealing a record, consenting (which makes re-encryption fragments),
forum badges — live in the wallet client (`learnchain.apps.wallet.*_client`), which runs on the
patient's or professional's own machine; this client covers what a researcher, institution,
professional or forum pseudonym does with ids and addresses alone::

    node = Client("http://127.0.0.1:8645")
    sid = node.publish_study(researcher, {"condition": "195967001", "age_min": 30,
                             "age_max": 60, "reference_date": "2026-01-01"},
                             ["age_band", "obs:19935-6"], reward=10, slots=100,
                             deadline=node.height() + 1000)
    node.study_counts(sid)           # {"joined": …, "delivered": …, "paid": …, "escrow_left": …}
    node.close_study(researcher, sid)  # after the deadline: the unspent escrow returns
"""

from __future__ import annotations

import os
from typing import Any

from learnchain.core.crypto import PrivateKey, parse_address


def _id(value: str | bytes) -> str:
    return value if isinstance(value, str) else "0x" + value.hex()


def _raw(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else bytes.fromhex(value.removeprefix("0x"))


def _addr(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else parse_address(value)


class WalletApiMixin:
    """Studies, forums, review, collaboration and rewards over `/v1/wallet` and transactions."""

    # `_call` (NodeClient) and `call` (Client) come from the class this is mixed into.

    def _wallet_tx(self, key: PrivateKey, method: str, args: dict[str, Any]) -> Any:
        return self.call(key, "wallet", method, args).result

    def height(self) -> int:
        return int(self._call("GET", "/v1/status")["height"])

    # --- studies (researcher) --------------------------------------------------------------
    def studies(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/v1/wallet/studies"))

    def study(self, study: str | bytes) -> dict[str, Any]:
        return dict(self._call("GET", f"/v1/wallet/studies/{_id(study)}"))

    def study_counts(self, study: str | bytes) -> dict[str, Any]:
        """How many patients matched and opted in, were delivered, were paid; escrow left."""
        return dict(self._call("GET", f"/v1/wallet/studies/{_id(study)}/counts"))

    def study_participants(self, study: str | bytes) -> list[dict[str, Any]]:
        return list(self._call("GET", f"/v1/wallet/studies/{_id(study)}/participants"))

    def publish_study(self, key: PrivateKey, criteria: dict[str, Any], fields: list[str], *,
                      reward: int, slots: int, deadline: int) -> str:
        """Escrow reward × slots and publish; returns the study id (0x…)."""
        sid = os.urandom(8)
        self._wallet_tx(key, "publish_study", {"study": sid, "criteria": criteria,
                                               "fields": fields, "reward": reward,
                                               "slots": slots, "deadline": deadline})
        return "0x" + sid.hex()

    def claim_study(self, key: PrivateKey, study: str | bytes, participant: str | bytes) -> int:
        """Patient: the study pays its reward once the delivery is logged."""
        return int(self._wallet_tx(key, "claim_study", {"study": _raw(study),
                                                        "participant": _raw(participant)})["paid"])

    def close_study(self, key: PrivateKey, study: str | bytes) -> int:
        """Researcher, after the deadline: the escrow nobody is owed returns; the refund."""
        return int(self._wallet_tx(key, "close_study", {"study": _raw(study)})["refund"])

    # --- forums ----------------------------------------------------------------------------
    def forums(self, condition: str = "") -> list[dict[str, Any]]:
        """Search forums by condition code (every forum without one)."""
        return list(self._call("GET", "/v1/wallet/forums", params={"condition": condition}))

    def forum_members(self, forum: str | bytes) -> list[dict[str, Any]]:
        return list(self._call("GET", f"/v1/wallet/forums/{_id(forum)}/members"))

    def forum_posts(self, forum: str | bytes) -> list[dict[str, Any]]:
        return list(self._call("GET", f"/v1/wallet/forums/{_id(forum)}/posts"))

    def search_forums(self, condition: str) -> list[dict[str, Any]]:
        """Members of every forum on `condition`: pseudonyms and badges only."""
        return [{**m, "forum": f["id"]} for f in self.forums(condition)
                for m in self.forum_members(f["id"])]

    def forum_post(self, pseudonym: PrivateKey, forum: str | bytes, cid: str) -> int:
        """Post a content id under a forum pseudonym key (see `forum_client.pseudonym_key`)."""
        return int(self._wallet_tx(pseudonym, "post", {"forum": _raw(forum), "cid": cid})["post"])

    # --- patient review --------------------------------------------------------------------
    def flags(self, wallet: str | bytes) -> list[dict[str, Any]]:
        return list(self._call("GET", f"/v1/wallet/wallets/{_id(wallet)}/flags"))

    def answer_flag(self, key: PrivateKey, wallet: str | bytes, flag: int, *,
                    corrected_version: int | None = None,
                    rejection_note: str | bytes | None = None) -> None:
        """Professional: answer with the version they wrote, or the record of their reason."""
        if (corrected_version is None) == (rejection_note is None):
            raise ValueError("give exactly one of corrected_version or rejection_note")
        args: dict[str, Any] = {"wallet": _raw(wallet), "flag": flag}
        if corrected_version is not None:
            args.update(kind="corrected", version=corrected_version)
        else:
            args.update(kind="rejected", note=_raw(rejection_note or b""))
        self._wallet_tx(key, "answer_flag", args)

    # --- collaboration ---------------------------------------------------------------------
    def case(self, case: str | bytes) -> dict[str, Any]:
        return dict(self._call("GET", f"/v1/wallet/cases/{_id(case)}"))

    def wallet_cases(self, wallet: str | bytes) -> list[dict[str, Any]]:
        return list(self._call("GET", f"/v1/wallet/wallets/{_id(wallet)}/cases"))

    def case_contributors(self, case: str | bytes, by: str | bytes = "") -> list[dict[str, Any]]:
        params = {"by": _id(by)} if by else {}
        return list(self._call("GET", f"/v1/wallet/cases/{_id(case)}/contributors",
                               params=params))

    def open_case(self, key: PrivateKey, wallet: str | bytes, layers: list[str]) -> str:
        cid = os.urandom(16)
        self._wallet_tx(key, "open_case", {"case": cid, "wallet": _raw(wallet),
                                           "layers": layers})
        return "0x" + cid.hex()

    def invite_colleague(self, key: PrivateKey, case: str | bytes,
                         colleague: str | bytes) -> None:
        self._wallet_tx(key, "invite_colleague", {"case": _raw(case),
                                                  "colleague": _addr(colleague)})

    # --- institution rewards ---------------------------------------------------------------
    def reward_programme(self, programme: str | bytes) -> dict[str, Any]:
        return dict(self._call("GET", f"/v1/wallet/rewards/{_id(programme)}"))

    def open_reward(self, key: PrivateKey, rtype: str, *, amount: int, slots: int,
                    deadline: int, layer: str = "profile",
                    institutions: list[str | bytes] | None = None) -> str:
        pid = os.urandom(8)
        self._wallet_tx(key, "open_reward", {
            "programme": pid, "rtype": rtype, "layer": layer, "amount": amount,
            "slots": slots, "deadline": deadline,
            "institutions": [_addr(i) for i in institutions or []]})
        return "0x" + pid.hex()

    def claim_reward(self, key: PrivateKey, programme: str | bytes, wallet: str | bytes,
                     record: str | bytes) -> int:
        return int(self._wallet_tx(key, "reward_claim", {
            "programme": _raw(programme), "wallet": _raw(wallet),
            "record": _raw(record)})["paid"])

    def close_reward(self, key: PrivateKey, programme: str | bytes) -> int:
        return int(self._wallet_tx(key, "close_reward", {"programme": _raw(programme)})["refund"])
