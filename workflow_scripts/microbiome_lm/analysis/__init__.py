"""Cross-study analyses: taxonomy, BLAST overlap, pathway correlations."""
