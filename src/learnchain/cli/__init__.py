"""The `learnchain` command."""
