"""Peer protocol v1: messages, the authenticated handshake, and session envelopes.

A connection starts with a handshake in which each side signs the other's fresh challenge with
its node key (so a permissioned network can check the signer against genesis) and both derive a
session key from static ECDH between the node keys and both challenges. Every later message is
an envelope with a strictly increasing sequence number and an HMAC under the session key:
authenticated, bound to the session, and not replayable, at the cost of one hash per message.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from typing import Any

import coincurve

from learnchain.core.crypto import PrivateKey, address_of_public_key, recover_address
from learnchain.core.encoding import decode, encode
from learnchain.core.errors import EncodingError, LearnchainError

PROTOCOL_VERSION = 1
MAX_MESSAGE_SIZE = 8 * 1024 * 1024
MAX_HEADERS_PER_REPLY = 500
MAX_BLOCKS_PER_REPLY = 64
MAX_BLOBS_PER_REQUEST = 256

HANDSHAKE_KINDS = frozenset({"hello", "challenge", "auth"})
SESSION_KINDS = frozenset({"status", "tx", "block", "get_headers", "headers", "get_blocks",
                           "blocks", "get_blobs", "blobs", "get_peers", "peers",
                           "checkpoint", "fraud"})
MAX_SEQ = (1 << 63) - 1


class ProtocolError(LearnchainError):
    """A peer sent something the protocol does not allow."""


@dataclass(frozen=True)
class Message:
    kind: str
    body: dict[str, Any]


def new_nonce() -> bytes:
    return os.urandom(16)


def challenge_digest(label: bytes, genesis: bytes, their_nonce: bytes, my_nonce: bytes) -> bytes:
    return hashlib.sha256(b"learnchain-p2p/" + label + genesis + their_nonce + my_nonce).digest()


def sign_challenge(key: PrivateKey, label: bytes, genesis: bytes, their_nonce: bytes,
                   my_nonce: bytes) -> bytes:
    return key.sign(challenge_digest(label, genesis, their_nonce, my_nonce))


def check_challenge(signature: bytes, expected_node: bytes, label: bytes, genesis: bytes,
                    their_nonce: bytes, my_nonce: bytes) -> None:
    signer = recover_address(challenge_digest(label, genesis, their_nonce, my_nonce), signature)
    if signer != expected_node:
        raise ProtocolError("handshake signature does not match the announced node key")


def node_id_of(public_key: bytes) -> bytes:
    try:
        return address_of_public_key(coincurve.PublicKey(public_key))
    except Exception:
        raise ProtocolError("announced node public key is not a valid secp256k1 key") from None


def session_key(key: PrivateKey, peer_public: bytes, initiator_nonce: bytes,
                responder_nonce: bytes) -> bytes:
    shared = coincurve.PrivateKey(key.secret).ecdh(peer_public)
    return hashlib.sha256(b"learnchain-p2p/session" + shared + initiator_nonce +
                          responder_nonce).digest()


def encode_handshake(kind: str, body: dict[str, Any]) -> bytes:
    return encode({"v": PROTOCOL_VERSION, "kind": kind, "body": body})


def encode_payload(kind: str, body: dict[str, Any]) -> bytes:
    return encode({"kind": kind, "body": body})


def encode_envelope(session: bytes, seq: int, sender: bytes, kind: str,
                    body: dict[str, Any], payload: bytes | None = None) -> bytes:
    """Seal a message for one peer; pass `payload` to reuse one encoding across peers."""
    if payload is None:
        payload = encode_payload(kind, body)
    tag = hmac.new(session, seq.to_bytes(8, "big") + payload, hashlib.sha256).digest()
    return encode({"v": PROTOCOL_VERSION, "from": sender, "seq": seq, "payload": payload,
                   "mac": tag})


def decode_frame(data: bytes) -> dict[str, Any]:
    """The outer frame of any message; raises ProtocolError with what is wrong."""
    if len(data) > MAX_MESSAGE_SIZE:
        raise ProtocolError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE_SIZE}")
    try:
        frame = decode(data, max_size=MAX_MESSAGE_SIZE, strict=False)
    except EncodingError as exc:
        raise ProtocolError(f"malformed message: {exc}") from None
    if not isinstance(frame, dict) or frame.get("v") != PROTOCOL_VERSION:
        raise ProtocolError(f"not a learnchain p2p v{PROTOCOL_VERSION} message")
    return frame


def open_envelope(frame: dict[str, Any], session: bytes, last_seq: int) -> tuple[int, Message]:
    """Check an envelope's MAC and sequence number and open its payload; raises only
    ProtocolError, whatever the frame holds."""
    seq, payload, tag = frame.get("seq"), frame.get("payload"), frame.get("mac")
    if not isinstance(seq, int) or isinstance(seq, bool) or not 1 <= seq <= MAX_SEQ \
            or not isinstance(payload, bytes) or not isinstance(tag, bytes):
        raise ProtocolError(f"envelope needs seq (an integer in [1, {MAX_SEQ}]), payload "
                            "and mac")
    expected = hmac.new(session, seq.to_bytes(8, "big") + payload, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, tag):
        raise ProtocolError("envelope MAC does not verify (tampered, or wrong session)")
    if seq <= last_seq:
        raise ProtocolError(f"replayed envelope (seq {seq} <= {last_seq})")
    try:
        inner = decode(payload, max_size=MAX_MESSAGE_SIZE, strict=False)
    except EncodingError as exc:
        raise ProtocolError(f"malformed payload: {exc}") from None
    if not isinstance(inner, dict):
        raise ProtocolError("a payload is a map {kind, body}")
    kind, body = inner.get("kind"), inner.get("body")
    if not isinstance(kind, str) or kind not in SESSION_KINDS or not isinstance(body, dict):
        raise ProtocolError(f"unknown message kind {kind!r}")
    return seq, Message(kind, body)
