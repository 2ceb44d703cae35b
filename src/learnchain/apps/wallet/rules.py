"""Pure rules of the wallet app: layers, who may write where, and the permissioning function.

Every function here reads state views and raises `WalletError` (an `AppError`) with the rule
that failed; the app's transactions and the proxies' checks call the same functions, so a proxy
and the chain can never disagree about who may read what.

Layers are the seed's three wallets plus named sublayers: ``identification``, ``profile``,
``activities``, or ``<layer>/<name>`` (e.g. ``profile/allergies``, ``activities/forum``,
``activities/study:42``). A grant on a layer covers its sublayers.

Write rules (seed §2.2.2: professionals amend the profile, patients only "partly … in specific
predefined sections"):

* the patient writes the identification layer, the activities layer (any sublayer) and the
  profile sections in `PATIENT_PROFILE_SECTIONS` — never the bare profile or other sections;
* the wallet's KYC institution writes the identification layer only;
* a grantee whose unexpired, unrevoked grant has ``write`` and covers the layer writes the
  profile and activities layers (and their sublayers), never identification.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from learnchain.apps.base import AppError
from learnchain.apps.identity import has_role, is_member
from learnchain.core.state import StateView

LAYERS = ("identification", "profile", "activities")
PATIENT_PROFILE_SECTIONS = frozenset({"self-reported", "allergies", "lifestyle"})
_LAYER_RE = re.compile(r"^(identification|profile|activities)(/[a-z0-9][a-z0-9:_.-]{0,31})?$")
ROLE_LAYERS: dict[str, tuple[str, ...]] = {
    "professional": ("identification", "profile", "activities"),
    "institution": ("profile", "activities"),
    "researcher": ("activities/study:",),
}
"""Which layers a grantee of each role may be granted (prefix match)."""
ROLE_CAPS: dict[str, tuple[str, ...]] = {"researcher": ("identification", "profile")}
"""Seed §3.2.1 role caps: a researcher (the pharmaceutical role) never reads these layers, even
when it also holds a role that could, and whatever a patient grants."""


class WalletError(AppError):
    """A wallet rule refused the call; the message names the rule."""


@dataclass(frozen=True)
class Params:
    recovery_delay: int = 10
    """Blocks between an institution starting a recovery and the new key taking over, during
    which the current key can cancel it."""
    request_window: int = 64
    """An access request must name a height no older than this many blocks."""
    max_grants_per_wallet: int = 256

    @classmethod
    def from_state(cls, state: StateView) -> Params:
        return cls(**state.get("params", {}))


def validate_layer(layer: str) -> str:
    if not isinstance(layer, str) or not _LAYER_RE.match(layer):
        raise WalletError(f"layer {layer!r} is not one of {', '.join(LAYERS)} or "
                          "<layer>/<sublayer> (lower case, ≤ 32 characters)")
    return layer


def root_of(layer: str) -> str:
    return layer.split("/", 1)[0]


def covers(granted: str, layer: str) -> bool:
    return layer == granted or layer.startswith(granted + "/")


def role_allows(identity: StateView, grantee: bytes, layer: str) -> bool:
    for role, capped in ROLE_CAPS.items():
        if root_of(layer) in capped and has_role(identity, grantee, role):
            return False
    for role, allowed in ROLE_LAYERS.items():
        if has_role(identity, grantee, role) and any(
                layer == a or layer.startswith(a) or covers(a, layer) for a in allowed):
            return True
    return False


def validate_grant_layers(identity: StateView, grantee: bytes, layers: list[str]) -> None:
    if not layers:
        raise WalletError("a grant names at least one layer")
    for layer in layers:
        validate_layer(layer)
        if not role_allows(identity, grantee, layer):
            raise WalletError(f"the grantee's roles do not allow layer {layer!r} "
                              f"(roles → layers: {ROLE_LAYERS})")


def grant_active(grant: dict[str, Any] | None, height: int) -> str | None:
    """None if the grant can be used at `height`, else why not."""
    if grant is None:
        return "no such grant"
    if grant["revoked"] is not None:
        return f"grant was revoked at height {grant['revoked']}"
    if grant["expiry"] and height >= grant["expiry"]:
        return f"grant expired at height {grant['expiry']}"
    return None


def authorised_for_identification(wallet_state: StateView, identity: StateView,
                                  professional: bytes) -> bool:
    """Seed §2.2.1: a professional reads identification only while an institution vouches."""
    auth = wallet_state.get("auth/" + professional.hex())
    return bool(auth) and (is_member(identity, auth["by"])
                           or has_role(identity, auth["by"], "institution"))


def validate_write(state: StateView, identity: StateView, wallet: dict[str, Any],
                   writer: bytes, layer: str, height: int) -> None:
    validate_layer(layer)
    root = root_of(layer)
    if writer == wallet["owner"]:
        if root == "profile":
            section = layer.partition("/")[2]
            if section not in PATIENT_PROFILE_SECTIONS:
                raise WalletError(f"patients write only the profile sections "
                                  f"{sorted(PATIENT_PROFILE_SECTIONS)}, not {layer!r}")
        return
    if writer == wallet["institution"]:
        if root != "identification":
            raise WalletError("the KYC institution writes only the identification layer")
        return
    if root == "identification":
        raise WalletError("only the patient and their KYC institution write identification")
    for gid in state.get("grants/" + wallet["id"].hex(), []):
        grant = state.get("grant/" + gid.hex())
        if (grant["grantee"] == writer and grant["write"] and grant_active(grant, height) is None
                and any(covers(g, layer) for g in grant["layers"])):
            return
    raise WalletError(f"no active write grant covers layer {layer!r} for this writer")


def permit(state: StateView, identity: StateView, request: dict[str, Any], requester: bytes,
           height: int) -> dict[str, Any]:
    """P(Ps, Kc) → 1/0: the grant, record and capsule behind an allowed request.

    Checks: the grant exists, belongs to the wallet, is not revoked or expired; the requester
    is its grantee (for a recovery grant: the key a finished recovery installed); the record
    exists, is not deleted, its version's capsule is the one named, and its layer is covered;
    the grantee's role allows that layer; identification needs institution authorisation; the
    request is fresh. Raises WalletError naming the first rule that fails.
    """
    params = Params.from_state(state)
    at = request["at"]
    if at > height or height - at > params.request_window:
        raise WalletError(f"stale or future request: made at height {at}, chain is at {height} "
                          f"(window {params.request_window})")
    grant = state.get("grant/" + request["grant"].hex())
    why = grant_active(grant, height)
    if why:
        raise WalletError(why)
    assert grant is not None
    if grant["wallet"] != request["wallet"]:
        raise WalletError("the grant belongs to another wallet")
    if grant["grantee"] != requester:
        raise WalletError("the requester is not the grantee of this grant")
    record = state.get(f"rec/{request['wallet'].hex()}/{request['record'].hex()}")
    if record is None:
        raise WalletError("no such record in this wallet")
    if record["deleted"] is not None:
        raise WalletError("the record was deleted")
    version = request["version"]
    if not 1 <= version <= len(record["versions"]):
        raise WalletError(f"the record has no version {version}")
    entry = record["versions"][version - 1]
    if entry["capsule_hash"] != request["capsule_hash"]:
        raise WalletError("the capsule named is not the one recorded for that version")
    if entry["epoch"] != grant["epoch"]:
        raise WalletError("that version is wrapped under another owner key than the grant's")
    layer = record["layer"]
    if grant["kind"] == "share":
        if not any(covers(g, layer) for g in grant["layers"]):
            raise WalletError(f"the grant does not cover layer {layer!r}")
        if not role_allows(identity, requester, layer):
            raise WalletError(f"the grantee's role does not allow layer {layer!r}")
        if root_of(layer) == "identification" and not authorised_for_identification(
                state, identity, requester):
            raise WalletError("identification needs the professional's institution "
                              "authorisation")
    return {"grant": grant, "record": record, "entry": entry}
