"""Core data, encoding, keys and chain rules shared by every node configuration."""
