"""Finding 4: peer-message handlers let undocumented exceptions escape.

Narrative: n0 holds an authenticated session with n1 and sends it envelopes that pass the MAC
but carry hostile bodies: huge integers in `status` and `headers`, negative sequence numbers,
non-integer heights, hashes that are integers (which reached SQLite), and a 19-byte `status`
that made n1 allocate 300 MB. Every one must end as a `ProtocolError` or a penalty, never
another exception; and a bad reply must not end the HTTP sender thread that received it.
Then a bounded hypothesis fuzz target per peer message type (the long run is `make fuzz`).
"""

from __future__ import annotations

import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learnchain.core.encoding import encode
from learnchain.net.peer_fuzz import FIELDS, INTERESTING_INTS, KINDS, FuzzHarness
from learnchain.net.protocol import ProtocolError


@pytest.fixture(scope="module")
def harness():
    return FuzzHarness()


def test_a_19_byte_status_no_longer_allocates_hundreds_of_megabytes(harness):
    frame = harness.seal("status", {"height": 1, "head": 300_000_000})
    assert len(encode({"height": 1, "head": 300_000_000})) == 19
    tracemalloc.start()
    try:
        outcome = harness.deliver(frame)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert outcome == "accepted"  # answered with a penalty, not an exception
    assert peak < 8 * 1024 * 1024, f"peak allocation {peak} bytes for a 19-byte message"


@pytest.mark.parametrize(("kind", "body"), [
    ("status", {"height": 2**64, "head": bytes(32)}),
    ("status", {"height": "7", "head": bytes(32)}),
    ("status", {"height": -1, "head": bytes(32)}),
    ("headers", {"headers": [], "height": 2**80, "head": bytes(32)}),
    ("get_headers", {"start": 2**63 - 1, "max": 500, "locator": []}),
    ("get_headers", {"start": 1, "locator": [2**70]}),
    ("get_blocks", {"hashes": [2**70, -5]}),
    ("get_blocks", {"hashes": "not a list"}),
    ("get_blobs", {"cids": [17]}),
    ("blobs", {"blobs": {"x": 1}, "missing": ["bad"]}),
    ("peers", {"addrs": [1, 2, 3]}),
    ("tx", {"tx": 12}),
    ("block", {"block": None}),
    ("checkpoint", {"checkpoint": {"height": -1}}),
    ("fraud", {"proof": 17}),
])
def test_hostile_bodies_end_as_penalties_not_exceptions(harness, kind, body):
    before = harness.victim.stats.penalties
    assert harness.deliver(harness.seal(kind, body)) in ("accepted", "protocol-error")
    if kind != "get_headers" or body.get("locator"):
        assert harness.victim.stats.penalties > before, f"{kind} {body} went unpunished"


@pytest.mark.parametrize("seq", [-1, 0, 2**64, 2**100])
def test_envelopes_with_impossible_sequence_numbers_are_protocol_errors(harness, seq):
    with pytest.raises(ProtocolError):
        harness.victim.on_message(harness.seal("status", {"height": 0, "head": bytes(32)},
                                               seq=seq), addr="n0")


def test_a_bad_reply_does_not_kill_the_http_sender_thread():
    """A reply whose handling fails (injected fault) is logged; later messages still go."""
    import threading

    from learnchain.net.http_transport import HttpTransport, mount_p2p
    from learnchain.net.p2p import P2PNode
    from learnchain.net.server import ApiServer
    from learnchain.testing import dev_genesis, dev_key, make_node

    genesis = dev_genesis(miners=["m1", "m2"], members=["m1"], controller="m1")
    a, b = make_node(genesis, "m1"), make_node(genesis, "m2")
    server = ApiServer(b.node)
    p2p_b = P2PNode(b.node, dev_key("m2"), HttpTransport(), "http://127.0.0.1:1")
    mount_p2p(server.server.config.app, p2p_b)
    transport = HttpTransport()
    with server:
        p2p_a = P2PNode(a.node, dev_key("m1"), transport, "http://127.0.0.1:2")
        transport.p2p = p2p_a
        real, calls, done = p2p_a.on_message, [], threading.Event()

        def faulty(data, addr=None):
            calls.append(data)
            if len(calls) == 1:
                raise RuntimeError("injected fault while handling a reply")
            done.set()
            return real(data, addr)

        p2p_a.on_message = faulty
        transport.send(server.url, b"\xa0")  # any frame: b answers 400, no reply frames
        p2p_a.connect(server.url)  # the challenge reply hits the injected fault
        p2p_a.connect(server.url)  # the same thread must still deliver this one
        assert done.wait(30), "the sender thread died after one bad reply"
    transport.close()


# ----- bounded fuzz targets, one per message type --------------------------------------

plain = st.recursive(
    st.one_of(st.sampled_from(INTERESTING_INTS), st.integers(), st.binary(max_size=70),
              st.text(max_size=20), st.booleans(), st.none()),
    lambda inner: st.one_of(st.lists(inner, max_size=6),
                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)


def shaped(h: FuzzHarness, name: str):
    """Well-formed values for a field (so fuzzing gets past the first check), or junk."""
    known = st.sampled_from(h.known)
    good = {
        "hash": known, "head": known, "height": st.integers(0, 20),
        "start": st.integers(0, 20), "max": st.integers(0, 600),
        "locator": st.lists(known, max_size=70), "hashes": st.lists(known, max_size=70),
        "block": st.sampled_from(h.raw_blocks),
        "blocks": st.lists(st.sampled_from(h.raw_blocks), max_size=3),
        "headers": st.lists(st.sampled_from(h.headers), max_size=3),
        "addrs": st.lists(st.sampled_from(["n0", "n1", "n7"]), max_size=3),
    }.get(name, plain)
    return st.one_of(good, plain)


@pytest.mark.parametrize("kind", KINDS)
def test_fuzz_each_peer_message_type(harness, kind):
    fields = {f: shaped(harness, f) for f in FIELDS[kind]}

    @settings(max_examples=40, deadline=None, database=None)
    @given(st.fixed_dictionaries({}, optional=fields))
    def one(body):
        harness.deliver(harness.seal(kind, body))

    one()
    assert harness.undocumented == 0, harness.samples
