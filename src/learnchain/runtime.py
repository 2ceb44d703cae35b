"""A running node process: chain, producer, peer protocol and API, wired from node.toml."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import uvicorn

from learnchain.config import NodeConfig
from learnchain.consensus.rlpow_siblings import attach_siblings
from learnchain.core.crypto import load_keystore, parse_address
from learnchain.core.genesis import GenesisConfig
from learnchain.datadir_lock import DatadirLock, check_port_free
from learnchain.net.api import create_app
from learnchain.net.finality_api import mount_finality
from learnchain.net.fraud_api import mount_fraud
from learnchain.net.http_transport import HttpTransport, mount_p2p
from learnchain.net.p2p import P2PNode
from learnchain.net.server import KEEP_ALIVE_S
from learnchain.node import Node, open_chain

log = logging.getLogger("learnchain.runtime")


def admitted_nodes(genesis: GenesisConfig, mode: str) -> set[bytes] | None:
    """Node keys a permissioned node admits from genesis (None in open mode): the genesis
    `permissioned_nodes`, else its consortium members. Members added later by governance are
    admitted too (`P2PNode(admit_members=True)`)."""
    if mode == "open":
        return None
    listed = genesis.permissioned_nodes or genesis.apps.get("identity", {}).get("members", [])
    return {parse_address(a) for a in listed}


class NodeRuntime:
    def __init__(self, datadir: Path, *, mine: bool | None = None,
                 port: int | None = None) -> None:
        self.config = config = NodeConfig.load(datadir)
        if port is not None:
            config.api.port = port
        # Before anything is opened: one node per datadir, and a free API port.
        self.lock = DatadirLock(datadir).acquire()
        try:
            check_port_free(config.api.host, config.api.port)
        except BaseException:
            self.lock.release()
            raise
        genesis = GenesisConfig.load(config.path(config.genesis))
        self.chain = open_chain(config.path(config.database), genesis)
        engine = self.chain.engine
        if hasattr(engine, "archive_work"):  # rlpow: prune unless [storage] archive_work
            engine.archive_work = config.storage.archive_work
            engine.recent_limit_bytes = config.storage.recent_work_mb << 20
            engine.light_depth = config.storage.keep_blocks if config.storage.light_sync else None
            if not config.storage.archive_work:
                from learnchain.consensus.rlpow_pruning import BlobPruner

                BlobPruner(engine, config.storage.keep_blocks).attach(self.chain)
        self.mining = config.mining.enabled if mine is None else mine
        key = None
        if self.mining or config.p2p.enabled:
            key_file = config.mining.key if self.mining else config.p2p.key
            password_file = (config.mining.password_file if self.mining
                             else config.p2p.password_file)
            key = load_keystore(config.path(key_file),
                                config.path(password_file).read_text().strip())
        self.node = Node(self.chain, key if self.mining else None,
                         min_block_interval_ms=config.mining.min_block_interval_ms,
                         max_block_txs=config.mining.max_block_txs)
        # rlpow design=uncles: keep a candidate on the head, publish it when a peer wins
        self.siblings = attach_siblings(self.node) if self.mining else None
        self.api = create_app(self.node)
        self.url = f"http://{config.api.host}:{config.api.port}"
        self.p2p: P2PNode | None = None
        self.transport: HttpTransport | None = None
        if config.p2p.enabled and key is not None:
            allowed = admitted_nodes(genesis, config.p2p.peers)
            self.transport = HttpTransport()
            self.p2p = P2PNode(self.node, key, self.transport, self.url,
                               allowed_nodes=allowed, max_peers=config.p2p.max_peers,
                               admit_members=allowed is not None)
            self.transport.p2p = self.p2p
            mount_p2p(self.api, self.p2p)
            mount_finality(self.api, self.p2p)
            mount_fraud(self.api, self.p2p)
        self.wallet = None
        if "wallet" in self.chain.executor.apps:
            from learnchain.apps.wallet.service import attach_wallet_service

            self.wallet = attach_wallet_service(self.api, self.node, config, key, genesis)
        self._stop = threading.Event()

    def _tick_forever(self) -> None:
        assert self.p2p is not None
        while not self._stop.wait(self.config.p2p.tick_interval_ms / 1000):
            for addr in self.config.p2p.bootstrap:
                peer = self.p2p.peers.get(addr)
                if peer is None or not peer.ready:
                    self.p2p.connect(addr)
            self.p2p.tick()

    def serve(self) -> None:
        """Run until interrupted; stops cleanly (producer, peers, store) on the way out."""
        if self.mining:
            self.node.start()
        if self.siblings is not None:
            self.siblings.start()
        if self.wallet is not None:
            self.wallet.start()
        if self.p2p is not None:
            for addr in self.config.p2p.bootstrap:
                self.p2p.connect(addr)
            threading.Thread(target=self._tick_forever, daemon=True, name="p2p-tick").start()
        try:
            # timeout_graceful_shutdown: an open explorer tab (a live event stream) must not
            # hold up the node's shutdown
            uvicorn.run(self.api, host=self.config.api.host, port=self.config.api.port,
                        log_level="warning", timeout_graceful_shutdown=5,
                        timeout_keep_alive=KEEP_ALIVE_S)
        finally:
            self._stop.set()
            if self.siblings is not None:
                self.siblings.stop()
            self.node.stop()
            if self.wallet is not None:
                self.wallet.stop()
            if self.transport is not None:
                self.transport.close()
            self.chain.store.close()
            self.lock.release()
