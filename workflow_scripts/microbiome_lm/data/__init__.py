"""Data stage modules."""
