// Build, sign and print a learnchain transaction in JavaScript (docs/transactions.md).
//
//   npm install --prefix docs/examples          # @noble/secp256k1 + @noble/hashes
//   node docs/examples/sign_transfer.mjs '{"private_key": "0x…", "chain_id": 1337, "fee": 142,
//        "nonce": 0, "app": "bank", "method": "transfer",
//        "args": {"to": "0x…", "amount": 5}}'
//
// prints {"sender", "raw", "hash"}; POST {"raw": raw} to /v1/transactions to submit.
// In `args`, "0x…" strings are bytes (as in the API's JSON view); numbers must be integers.
import * as secp from "@noble/secp256k1";
import { hmac } from "@noble/hashes/hmac";
import { sha256 } from "@noble/hashes/sha256";
import { keccak_256 } from "@noble/hashes/sha3";

secp.etc.hmacSha256Sync = (key, ...msgs) => hmac(sha256, key, secp.etc.concatBytes(...msgs));

const hex = (bytes) => "0x" + Buffer.from(bytes).toString("hex");
const unhex = (text) => Uint8Array.from(Buffer.from(text.replace(/^0x/, ""), "hex"));

// Canonical CBOR for the plain types learnchain allows (RFC 8949 §4.2.1).
function head(major, n) {
  const big = BigInt(n);
  if (big < 24n) return Uint8Array.of((major << 5) | Number(big));
  for (const [extra, size] of [[24, 1], [25, 2], [26, 4], [27, 8]]) {
    if (big < 1n << BigInt(8 * size)) {
      const out = new Uint8Array(1 + size);
      out[0] = (major << 5) | extra;
      for (let i = 0; i < size; i++) out[size - i] = Number((big >> BigInt(8 * i)) & 0xffn);
      return out;
    }
  }
  throw new Error("integer too large");
}

function encode(value) {
  if (value === null) return Uint8Array.of(0xf6);
  if (value === true || value === false) return Uint8Array.of(value ? 0xf5 : 0xf4);
  if (typeof value === "number" || typeof value === "bigint") {
    if (typeof value === "number" && !Number.isInteger(value)) throw new Error("no floats");
    const n = BigInt(value);
    return n >= 0n ? head(0, n) : head(1, -1n - n);
  }
  if (value instanceof Uint8Array) return secp.etc.concatBytes(head(2, value.length), value);
  if (typeof value === "string") {
    const utf8 = new TextEncoder().encode(value);
    return secp.etc.concatBytes(head(3, utf8.length), utf8);
  }
  if (Array.isArray(value)) return secp.etc.concatBytes(head(4, value.length), ...value.map(encode));
  const entries = Object.entries(value).map(([k, v]) => [encode(k), encode(v)]);
  entries.sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return secp.etc.concatBytes(head(5, entries.length), ...entries.flat());
}

const fromJson = (v) =>
  typeof v === "string" && /^0x([0-9a-fA-F]{2})*$/.test(v) ? unhex(v)
    : Array.isArray(v) ? v.map(fromJson)
    : v !== null && typeof v === "object" ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fromJson(x)]))
    : v;

export function signTransaction(fields) {
  const priv = unhex(fields.private_key);
  const sender = keccak_256(secp.getPublicKey(priv, false).slice(1)).slice(-20);
  const unsigned = [fields.chain_id, sender, fields.nonce, fields.fee ?? 0, fields.app, fields.method,
    fromJson(fields.args)];
  const prefix = new TextEncoder().encode("learnchain-tx");
  const digest = sha256(secp.etc.concatBytes(prefix, encode(unsigned)));
  const sig = secp.sign(digest, priv, { lowS: true }); // RFC 6979, low-s
  const signature = secp.etc.concatBytes(sig.toCompactRawBytes(), Uint8Array.of(sig.recovery));
  const raw = encode([...unsigned, signature]);
  return { sender: hex(sender), raw: hex(raw), hash: hex(sha256(raw)) };
}

const fields = JSON.parse(process.argv[2] ?? "{}");
console.log(JSON.stringify(signTransaction(fields)));
