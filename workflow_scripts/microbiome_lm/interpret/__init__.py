"""Interpretation: attributions, averaged contextual embeddings, embedding-space figures."""
