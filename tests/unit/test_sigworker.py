"""Parallel signature recovery gives exactly the serial answer, and survives broken workers."""

from concurrent.futures import Future
from dataclasses import replace

from learnchain.core import execution, sigworker
from learnchain.core.execution import recover_senders
from learnchain.core.types import Transaction
from learnchain.testing import dev_key


def batch(n=300):
    txs = [Transaction(1, dev_key(f"k{i % 7}").address, i, "bank", "transfer",
                       {"to": b"x" * 20, "amount": i}).signed(dev_key(f"k{i % 7}"))
           for i in range(n)]
    txs[5] = replace(txs[5], signature=dev_key("mallory").sign(txs[5].signing_digest))
    txs[9] = replace(txs[9], signature=b"\x00" * 65)
    return txs


def expected(txs):
    return [tx.sender if i not in (5, 9) else "bad" for i, tx in enumerate(txs)]


def normalise(senders, txs):
    return [s if s == tx.sender else "bad" for s, tx in zip(senders, txs, strict=True)]


def test_worker_recovery_matches_serial_recovery(monkeypatch):
    txs = batch()
    monkeypatch.setenv("LEARNCHAIN_SIG_WORKERS", "2")
    assert normalise(recover_senders(txs), txs) == expected(txs)
    monkeypatch.setenv("LEARNCHAIN_SIG_WORKERS", "0")
    sigworker.disable()
    assert normalise(recover_senders(txs), txs) == expected(txs)


def test_a_broken_worker_pool_falls_back_to_in_process_recovery(monkeypatch):
    txs = batch()

    def broken_submit(_encoded):
        future: Future = Future()
        future.set_exception(RuntimeError("worker died"))
        return future

    monkeypatch.setattr(sigworker, "submit", broken_submit)
    monkeypatch.setattr(sigworker, "disable", lambda: None)
    assert normalise(recover_senders(txs), txs) == expected(txs)


def test_the_importer_recovers_chunks_itself_while_the_workers_are_slow(monkeypatch):
    """Workers that deliver late (a busy machine): the importing process takes chunks no
    worker was given, from the end, and the answer is unchanged."""
    txs = batch(600)
    submitted: list[Future] = []

    class Late(Future):
        """A worker's result that arrives only after the importer has polled 40 times."""

        polls = 0

        def done(self):
            self.polls += 1
            if self.polls > 40 and not super().done():
                self.set_running_or_notify_cancel()
                self.set_result(sigworker.recover_encoded_batch(self.encoded))
            return super().done()

        def result(self, timeout=None):
            while not self.done():
                pass
            return super().result(timeout)

    def late_submit(encoded):
        future = Late()
        future.encoded = encoded
        submitted.append(future)
        return future

    monkeypatch.setattr(sigworker, "submit", late_submit)
    monkeypatch.setattr(sigworker, "workers_wanted", lambda: 2)
    monkeypatch.setattr(execution, "IN_FLIGHT_EXTRA", 0)  # 2 of the 4 chunks given at first
    assert normalise(recover_senders(txs), txs) == expected(txs)
    given = sum(len(f.encoded) for f in submitted)
    assert 0 < given < len(txs)  # the workers got some chunks, the importer recovered the rest
