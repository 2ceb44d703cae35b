"""Machine-learning layer of learnchain: verifiable DQN work for the ``rlpow`` engine.

Submodules: ``fixedpoint`` (integer encoding of reals), ``coins`` (SHA-256 randomness),
``envs`` (reconstructible oracle environments), ``dqn`` (Q-network commitments, action
selection, committed training and replay), ``baseline`` (comparison with Stable-Baselines3).
Import the submodules directly; this package import stays light (no torch import).
"""
