"""Embedding users' own samples with the pretrained model."""
