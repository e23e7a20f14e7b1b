"""Train stage modules."""
