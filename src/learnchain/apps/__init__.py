"""Deterministic on-chain applications (the native equivalent of smart contracts)."""
