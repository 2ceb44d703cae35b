"""Crowdsourced ML computation: commit-reveal tasks with deposits (Lu, Tang, Wang)."""
