"""Collaborative models on the chain: shared classifiers improved by contributed data.

`models` holds the integer classifiers, `encoders` the client-side input encoders,
`mechanisms` the incentive rules, `app` the on-chain `collab` app, `agents` and `experiments`
the off-chain simulation tools.
"""
