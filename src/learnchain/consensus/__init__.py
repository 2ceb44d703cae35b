"""Consensus engines: who may extend the chain, with what work, and which tip wins."""
