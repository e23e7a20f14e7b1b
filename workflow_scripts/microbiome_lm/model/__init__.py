"""Model stage modules."""
