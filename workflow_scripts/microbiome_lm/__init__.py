"""Microbiome language models: the Pope et al. (2025) pipeline as an importable, tested package."""

__version__ = "0.1.0"


def register() -> None:
    """Register the ``microbiome-electra`` model type with transformers' ``AutoConfig`` / ``AutoModel``.

    Explicit rather than on import, so that ``import microbiome_lm`` (and every CLI command) stays
    free of torch and transformers. See docs/embed.md.
    """
    from .embed.hf_auto import register as _register

    _register()
