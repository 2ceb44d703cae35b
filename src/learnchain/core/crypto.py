"""secp256k1 keys, recoverable signatures and Ethereum-style addresses.

Addresses follow the Ethereum convention (last 20 bytes of Keccak-256 of the uncompressed
public key) so identifiers match the wider tooling; keystores use the Ethereum keystore format.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import coincurve

from learnchain.core.errors import InvalidTransaction, KeystoreError

try:  # one C call per hash; pycryptodome's wrapper costs ~6x more per 64-byte key
    from sha3 import keccak_256 as keccak_256_hasher
except ImportError:  # pragma: no cover - safe-pysha3 is a dependency; keep working without it
    from Crypto.Hash import keccak as _pycryptodome_keccak

    def keccak_256_hasher(data: bytes) -> Any:
        return _pycryptodome_keccak.new(digest_bits=256, data=data)

ADDRESS_SIZE = 20
SIGNATURE_SIZE = 65
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
# s as 32 big-endian bytes compares like the integer, so the low-s test is one bytes comparison.
HALF_N_BYTES = (SECP256K1_N // 2).to_bytes(32, "big")
HIGH_S_MESSAGE = ("signature is high-s (s > n/2); only low-s signatures are valid (as "
                  "Ethereum's EIP-2), because (r, n - s) would be a second signature of the "
                  "same message")


def is_high_s(signature: bytes) -> bool:
    """True when a 65-byte r‖s‖v signature is the malleable upper-half twin."""
    return len(signature) == SIGNATURE_SIZE and signature[32:64] > HALF_N_BYTES


def keccak256(data: bytes) -> bytes:
    return keccak_256_hasher(data).digest()


def address_of_public_key(public_key: coincurve.PublicKey) -> bytes:
    return keccak256(public_key.format(compressed=False)[1:])[-ADDRESS_SIZE:]


@lru_cache(maxsize=8192)
def to_checksum_address(address: bytes) -> str:
    """EIP-55 mixed-case hex, so a mistyped address is caught by tools."""
    hex_addr = address.hex()
    digest = keccak256(hex_addr.encode()).hex()
    return "0x" + "".join(
        c.upper() if c.isalpha() and int(digest[i], 16) >= 8 else c for i, c in enumerate(hex_addr)
    )


def parse_address(text: str) -> bytes:
    """Bytes of a 0x-prefixed 40-hex-digit address; the error says what is wrong with it."""
    body = text[2:] if text.startswith(("0x", "0X")) else text
    if len(body) != 2 * ADDRESS_SIZE:
        raise ValueError(f"address {text!r} must be 40 hex digits after 0x")
    try:
        raw = bytes.fromhex(body)
    except ValueError:
        raise ValueError(f"address {text!r} is not hexadecimal") from None
    if body != body.lower() and body != body.upper() and to_checksum_address(raw) != "0x" + body:
        raise ValueError(f"address {text!r} fails its EIP-55 checksum; check for a typo")
    return raw


_SIGNERS: dict[bytes, coincurve.PrivateKey] = {}


def _signer(secret: bytes) -> coincurve.PrivateKey:
    """A coincurve key per secret, built once: constructing one derives its public key (a
    point multiplication that cost about half of each signature). Kept outside `PrivateKey`
    so keys stay picklable (coincurve objects are not)."""
    signer = _SIGNERS.get(secret)
    if signer is None:
        if len(_SIGNERS) >= 1024:
            _SIGNERS.clear()
        signer = _SIGNERS[secret] = coincurve.PrivateKey(secret)
    return signer


@dataclass(frozen=True)
class PrivateKey:
    secret: bytes

    @classmethod
    def generate(cls) -> PrivateKey:
        return cls(coincurve.PrivateKey().secret)

    @classmethod
    def from_hex(cls, text: str) -> PrivateKey:
        return cls(bytes.fromhex(text.removeprefix("0x")))

    @classmethod
    def from_seed(cls, seed: bytes) -> PrivateKey:
        """Deterministic key for tests and dev networks; never for real funds."""
        return cls(keccak256(b"learnchain-dev-key" + seed))

    def __post_init__(self) -> None:
        if len(self.secret) != 32:
            raise ValueError("a private key is 32 bytes")
        coincurve.PrivateKey(self.secret)

    @cached_property
    def address(self) -> bytes:
        return address_of_public_key(coincurve.PrivateKey(self.secret).public_key)

    def sign(self, digest: bytes) -> bytes:
        """65-byte recoverable signature (r‖s‖v) over a 32-byte digest."""
        return _signer(self.secret).sign_recoverable(digest, hasher=None)

    def __repr__(self) -> str:
        return f"PrivateKey(address={to_checksum_address(self.address)})"


try:  # libsecp256k1 through coincurve's own cffi binding: the same library and calls as
    # `PublicKey.from_signature_and_message(...).format(False)`, without building the Python
    # key objects in between (about 10 % of a recovery; see docs/performance.md).
    from coincurve._libsecp256k1 import ffi as _ffi
    from coincurve._libsecp256k1 import lib as _lib
    from coincurve.context import GLOBAL_CONTEXT as _CONTEXT

    _UNCOMPRESSED = _lib.SECP256K1_EC_UNCOMPRESSED
except (ImportError, AttributeError):  # pragma: no cover - a coincurve without the binding
    _lib = None


def _recover_public_key(digest: bytes, signature: bytes) -> bytes | None:
    """The 64-byte uncompressed public key (without its 0x04 prefix), or None."""
    if _lib is None:  # pragma: no cover
        try:
            public = coincurve.PublicKey.from_signature_and_message(signature, digest,
                                                                    hasher=None)
        except Exception:
            return None
        return public.format(compressed=False)[1:]
    if len(digest) != 32 or signature[64] > 3:
        return None
    new = _ffi.new
    parsed = new("secp256k1_ecdsa_recoverable_signature *")
    public = new("secp256k1_pubkey *")
    ctx = _CONTEXT.ctx
    if not (_lib.secp256k1_ecdsa_recoverable_signature_parse_compact(ctx, parsed, signature,
                                                                     signature[64])
            and _lib.secp256k1_ecdsa_recover(ctx, public, parsed, digest)):
        return None
    out = new("unsigned char[65]")
    _lib.secp256k1_ec_pubkey_serialize(ctx, out, new("size_t *", 65), public, _UNCOMPRESSED)
    return _ffi.buffer(out, 65)[1:]


def recover_address_or_none(digest: bytes, signature: bytes) -> bytes | None:
    """The signer's address of a 65-byte signature, or None when it is high-s (the malleable
    twin, refused as by EIP-2) or does not recover: the signature workers' hot path."""
    if len(signature) != SIGNATURE_SIZE or signature[32:64] > HALF_N_BYTES:
        return None
    public = _recover_public_key(digest, signature)
    return None if public is None else keccak256(public)[-ADDRESS_SIZE:]


def recover_address(digest: bytes, signature: bytes) -> bytes:
    """The signer's address; raises InvalidTransaction for a signature that does not recover."""
    if len(signature) != SIGNATURE_SIZE:
        raise InvalidTransaction(f"signature must be {SIGNATURE_SIZE} bytes, got {len(signature)}")
    if signature[32:64] > HALF_N_BYTES:
        raise InvalidTransaction(HIGH_S_MESSAGE)
    public = _recover_public_key(digest, signature)
    if public is None:
        raise InvalidTransaction("signature does not recover a public key")
    return keccak256(public)[-ADDRESS_SIZE:]


def save_keystore(key: PrivateKey, path: Path, password: str, *, light: bool = False) -> None:
    """Write an Ethereum (v3) keystore; `light` uses cheap KDF settings for tests only."""
    from eth_keyfile import create_keyfile_json

    kwargs = {"kdf": "pbkdf2", "iterations": 2} if light else {"kdf": "scrypt"}
    document = create_keyfile_json(key.secret, password.encode(), **kwargs)
    write_secret(path, json.dumps(document, indent=2))


def write_secret(path: Path, text: str) -> None:
    """Atomically write a file only its owner can read (0600), e.g. a keystore or password.

    The temporary file is created 0600 (not chmod-ed afterwards), so the secret is never
    readable by others, not even for a moment; the folder is made 0700 when we create it."""
    path = Path(path)
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def keystore_address(path: Path) -> bytes:
    try:
        return bytes.fromhex(json.loads(path.read_text())["address"])
    except (OSError, ValueError, KeyError) as exc:
        raise KeystoreError(f"{path} is not a readable keystore file: {exc}") from None


def load_keystore(path: Path, password: str) -> PrivateKey:
    from eth_keyfile import decode_keyfile_json

    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise KeystoreError(f"cannot read keystore {path}: {exc}") from None
    try:
        secret = decode_keyfile_json(document, password.encode())
    except ValueError:
        raise KeystoreError(f"wrong password for keystore {path}") from None
    except Exception as exc:
        raise KeystoreError(f"keystore {path} is damaged: {exc}") from None
    return PrivateKey(bytes(secret))
