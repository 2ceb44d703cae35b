"""learnchain: a blockchain whose work is machine learning."""

__version__ = "0.1.0"
