"""docs/transactions.md: its worked example is rebuilt from the documented fields, byte for
byte, so the page cannot drift from the code.

When the transaction format changes (e.g. a new field), add the field to the page's
``example-fields`` block and regenerate the ``example-expected`` block with one command:

    PYTHONPATH=src python tests/unit/test_transactions_doc.py --write
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "transactions.md"
BLOCK = re.compile(r"<!-- (example-\w+) -->\s*```json\n(.*?)```", re.S)


def blocks(text: str) -> dict[str, str]:
    return {name: body for name, body in BLOCK.findall(text)}


def build(fields: dict[str, Any]) -> dict[str, str]:
    """Every documented value of the example, computed from its fields by the real code."""
    from learnchain.core.crypto import PrivateKey, recover_address, to_checksum_address
    from learnchain.core.encoding import encode
    from learnchain.core.types import Transaction
    from learnchain.net.jsonview import from_json

    key = PrivateKey.from_hex(fields["private_key"])
    names = {f.name for f in dataclasses.fields(Transaction)} - {"sender", "signature"}
    values = {k: from_json(v) for k, v in fields.items() if k in names}
    unsigned = Transaction(sender=key.address, **values)
    tx = unsigned.signed(key)
    assert recover_address(tx.signing_digest, tx.signature) == key.address
    assert Transaction.decode(tx.encoded) == tx
    return {"sender": to_checksum_address(key.address),
            "unsigned_cbor": "0x" + encode(unsigned.unsigned_fields()).hex(),
            "signing_digest": "0x" + tx.signing_digest.hex(),
            "signature": "0x" + tx.signature.hex(),
            "raw": "0x" + tx.encoded.hex(),
            "hash": "0x" + tx.hash.hex()}


def render(expected: dict[str, str]) -> str:
    return json.dumps(expected, indent=2) + "\n"


def test_the_worked_example_is_what_the_code_produces():
    found = blocks(DOC.read_text())
    fields = json.loads(found["example-fields"])
    assert json.loads(found["example-expected"]) == build(fields)


def test_the_example_signature_is_low_s_and_the_layout_is_as_documented():
    from learnchain.core.encoding import sha256

    found = blocks(DOC.read_text())
    expected = json.loads(found["example-expected"])
    raw = bytes.fromhex(expected["raw"][2:])
    unsigned = bytes.fromhex(expected["unsigned_cbor"][2:])
    signature = bytes.fromhex(expected["signature"][2:])
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    assert int.from_bytes(signature[32:64], "big") <= n // 2 and signature[64] in (0, 1)
    assert sha256(b"learnchain-tx" + unsigned).hex() == expected["signing_digest"][2:]
    # raw = array(8) ‖ the seven unsigned items ‖ bytes(65) head ‖ signature
    assert raw == bytes([0x88]) + unsigned[1:] + bytes([0x58, 65]) + signature
    assert sha256(raw).hex() == expected["hash"][2:]


JS_EXAMPLE = DOC.parent / "examples" / "sign_transfer.mjs"
NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None or not (JS_EXAMPLE.parent / "node_modules").exists(),
                    reason="node or the example's npm packages missing (run `make sysdeps`)")
def test_the_javascript_client_signs_the_same_bytes():
    found = blocks(DOC.read_text())
    expected = json.loads(found["example-expected"])
    out = subprocess.run([NODE, str(JS_EXAMPLE), found["example-fields"]], capture_output=True,
                         text=True, timeout=120, check=True)
    signed = json.loads(out.stdout)
    assert signed["raw"] == expected["raw"] and signed["hash"] == expected["hash"]
    assert signed["sender"] == expected["sender"].lower()


def main() -> None:
    text = DOC.read_text()
    fields = json.loads(blocks(text)["example-fields"])
    fresh = render(build(fields))
    if "--write" in sys.argv:
        start = text.index("<!-- example-expected -->")
        body_start = text.index("```json\n", start) + len("```json\n")
        body_end = text.index("```", body_start)
        DOC.write_text(text[:body_start] + fresh + text[body_end:])
    sys.stdout.write(fresh)


if __name__ == "__main__":
    main()
