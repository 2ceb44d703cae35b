"""FHIR payload validation (`fhir.resources`, R5), imported only when a record is checked.

Structure is validated (fields, types, cardinality); value sets are not, which is what the
library offers. The record type on chain must equal the resource's ``resourceType``.
"""

from __future__ import annotations

import json
from typing import Any

from learnchain.apps.wallet.rules import WalletError
from learnchain.privacy.records import RECORD_TYPES

FHIR_TYPES = tuple(t for t in RECORD_TYPES if t != "file")


def validate_fhir(body: bytes, rtype: str) -> dict[str, Any]:
    """The parsed resource, or WalletError saying what is wrong with it."""
    if rtype not in FHIR_TYPES:
        raise WalletError(f"{rtype!r} is not a FHIR record type; types: {', '.join(FHIR_TYPES)}")
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WalletError(f"a {rtype} record must be FHIR JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("resourceType") != rtype:
        raise WalletError(f"the resource's resourceType must be {rtype!r}")
    from fhir.resources import get_fhir_model_class

    try:
        get_fhir_model_class(rtype).model_validate(document)
    except ValueError as exc:
        first = str(exc).splitlines()
        raise WalletError(f"invalid FHIR {rtype}: {' '.join(first[:3])}") from None
    return document
