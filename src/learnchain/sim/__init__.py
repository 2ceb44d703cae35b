"""Discrete-event simulation of learnchain networks: virtual clock, links, partitions, metrics."""
