"""Checkpoint names of the two pretraining stages (no torch import: the Snakefile reads this)."""

from __future__ import annotations


def generator_checkpoints(checkpoint_epochs: list[int]) -> list[str]:
    """Generator checkpoint names, in the order the discriminator uses them (0-based epochs, reference 5)."""
    return [f"epoch{e}" for e in checkpoint_epochs]


def discriminator_checkpoint_epochs(n_generators: int, epochs_per_generator: int, every: int) -> list[int]:
    """Epoch counts that leave a discriminator checkpoint: every ``every`` epochs, and the last (reference 6)."""
    total = n_generators * epochs_per_generator
    return sorted(set(range(every, total + 1, every)) | {total})


def discriminator_checkpoints(n_generators: int, epochs_per_generator: int, every: int) -> list[str]:
    return [f"epoch{n}" for n in discriminator_checkpoint_epochs(n_generators, epochs_per_generator, every)]
