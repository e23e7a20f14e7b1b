"""Embedding users' own samples with the pretrained model (docs/embed.md).

readers (BIOM / .qza / TSV) -> mapping (exact, contained, vsearch or BLAST) -> coverage ->
embedder (CLS, mean over taxa, per-taxon, p(IBD)) -> sinks; command is ``microbiome-lm embed``.
hf_auto + export make checkpoints loadable with ``transformers.AutoModel``.
"""
