"""Microbiome language models: the Pope et al. (2025) pipeline as an importable, tested package."""

__version__ = "0.1.0"
