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
