"""Layered medical wallets (seed 002 §2, §4, §5): the app, its client and its proxy service."""
