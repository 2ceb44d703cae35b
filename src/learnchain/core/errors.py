"""One exception family per failure kind, so callers can reject input precisely.

Every error carries a message that says what was wrong and, where there is one, the fix.
"""


class LearnchainError(Exception):
    """Base of every error this package raises on purpose."""


class EncodingError(LearnchainError):
    """Bytes or values that are not canonical learnchain encodings."""


class InvalidTransaction(LearnchainError):
    """A transaction that no block may include."""


class InvalidBlock(LearnchainError):
    """A block that no node may accept."""


class DataUnavailable(InvalidBlock):
    """A block that cannot be checked yet: off-chain data it commits to is not here.

    Not a verdict on the block, so a chain does not remember it as invalid; it is refused now
    and can be imported again once the data has arrived. ``digests`` names the missing data
    so that a node can fetch exactly that.
    """

    def __init__(self, message: str, digests: tuple[bytes, ...] = ()) -> None:
        super().__init__(message)
        self.digests = digests


class ConfigError(LearnchainError):
    """A genesis or node configuration that cannot be used."""


class KeystoreError(LearnchainError):
    """A keystore file that cannot be read or decrypted."""


class StoreError(LearnchainError):
    """The on-disk store is missing, from another chain, or damaged."""


class BeyondFinality(InvalidBlock):
    """A block on a branch that forked from this node's chain deeper than the finality bound.

    Not misbehaviour: after a long partition each side holds a valid chain the other side may
    not switch to. The chain records the split (``Chain.split``) instead of judging the block;
    a checkpoint signed by the governance controller is the way out (docs/security.md).
    """


class FutureBlock(InvalidBlock):
    """A block whose timestamp is ahead of this node's clock by more than the allowed drift.

    Not a verdict: the block may become acceptable once the clock catches up, and an honest
    peer with a skewed clock sends such blocks, so the network layer defers it unpunished.
    """


class InvalidCheckpoint(LearnchainError):
    """A finality checkpoint that is malformed or not signed by the governance controller."""
