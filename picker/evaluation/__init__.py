"""Scores: pick metrics, the runner over labelled files, classical baselines."""
