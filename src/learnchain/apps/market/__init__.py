"""Compute-resource market: Stackelberg pricing (off chain) checked and settled on chain."""
