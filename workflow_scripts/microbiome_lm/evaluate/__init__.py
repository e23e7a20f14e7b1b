"""Evaluation stage: data splits of the protocols, metrics with intervals, and the baselines."""
