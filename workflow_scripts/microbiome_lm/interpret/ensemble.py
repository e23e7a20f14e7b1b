"""The IBD ensemble as one scorer, and the samples it reads, for every interpretation step.

Ensemble score: p(IBD) of a member is ``softmax(logits)[:, 1]`` (reference 8.1); the
ensemble score is the **mean of the members' probabilities** (protocol C averages p(IBD),
reference 8.4 C). Published members (``run*_epoch0_disc``) carry no token table, so theirs
is rebuilt from the vocabulary embeddings with CLS = 0, as published finetuning did
(reference 8.1, 13 #2); our own members carry their trained table. Each member embeds the
ids with its own table, so attributions are computed per member and averaged, which
keeps every sum rule of the mean score.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..core.arrays import load_coordinate_array, load_labels
from ..core.errors import InputError
from ..core.tokens import TokenTable
from ..model.checkpoint import load_checkpoint
from ..model.electra import EmbeddedElectra
from ..model.encoding import EncodedSamples, encode_samples


@dataclass
class Cohort:
    """One labelled cohort as the models read it."""

    name: str
    array: np.ndarray  # (n, width, 2) coordinate list
    labels: np.ndarray  # (n,) 0/1
    encoded: EncodedSamples


def load_cohort(name: str, samples: str | Path, labels: str | Path, table: TokenTable, max_taxa: int) -> Cohort:
    """Validated array + labels, encoded as published (top ``max_taxa`` by abundance, CLS first)."""
    array = load_coordinate_array(samples, vocab_size=table.n_vocab)
    y = load_labels(labels, n_samples=array.shape[0])
    if not np.isin(y, (0, 1)).all():
        raise InputError(labels, "expected binary 0/1 IBD labels")
    return Cohort(name, array, y, encode_samples(array, table, max_taxa))


class Ensemble:
    """Classifier members (``ElectraForSequenceClassification``) averaged into p(IBD)."""

    def __init__(self, members: list[EmbeddedElectra]):
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = members
        first = members[0]
        self.n_vocab, self.mask_id, self.cls_id, self.pad_id = first.n_vocab, first.mask_id, first.cls_id, first.pad_id

    @property
    def table(self) -> TokenTable:
        """The first member's table; members share the layout (checked at loading), used for encoding."""
        return self.members[0].token_table()

    @property
    def max_positions(self) -> int:
        return self.members[0].hf.config.max_position_embeddings

    @staticmethod
    def member_probability(member: EmbeddedElectra, inputs_embeds: torch.Tensor,
                           attention_mask: torch.Tensor) -> torch.Tensor:
        """p(IBD) of one member from its input embeddings, ``(batch,)``."""
        logits = member.hf(inputs_embeds=inputs_embeds, attention_mask=attention_mask).logits
        return torch.softmax(logits.float(), dim=-1)[:, 1]

    @torch.no_grad()
    def probability(self, ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Ensemble p(IBD) ``(batch,)``, float64: the mean of the members' probabilities."""
        total = torch.zeros(ids.shape[0], dtype=torch.float64, device=ids.device)
        for member in self.members:
            total += self.member_probability(member, member.embed(ids), attention_mask).double()
        return total / len(self.members)

    @torch.no_grad()
    def hidden_states(self, ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Last hidden states averaged over members ``(batch, length, hidden)``."""
        total = None
        for member in self.members:
            states = member.encode(ids, attention_mask).float()
            total = states if total is None else total + states
        return total / len(self.members)


def load_ensemble(directories: list[str | Path], vocab_embeddings: str | Path | np.ndarray, mask_init: str = "min",
                  device: str | torch.device = "cpu") -> Ensemble:
    """Load the classifier members (any checkpoint layout); all must share the token-table layout."""
    members, layouts = [], set()
    for directory in directories:
        ckpt = load_checkpoint(directory, vocab_embeddings=vocab_embeddings, mask_init=mask_init, cls_init="zeros",
                               device=device)
        if ckpt.architecture != "ElectraForSequenceClassification" or ckpt.model.hf.config.num_labels != 2:
            raise InputError(directory, f"expected a 2-label ElectraForSequenceClassification member, found "
                                        f"{ckpt.architecture} with {ckpt.model.hf.config.num_labels} labels")
        layouts.add((ckpt.table.n_vocab, ckpt.table.dim, ckpt.model.hf.config.max_position_embeddings))
        if len(layouts) > 1:
            raise InputError(directory, f"member layout (n_vocab, dim, positions) {sorted(layouts)} differs "
                                        "from the other members'")
        members.append(ckpt.model)
    return Ensemble(members)


def check_fits(encoded: EncodedSamples, max_positions: int, source: str | Path) -> None:
    """The encoded length (CLS + taxa) must fit the members' position embeddings."""
    if encoded.seq_len > max_positions:
        raise InputError(source, f"encoding.max_taxa + 1 = {encoded.seq_len} positions exceed the model's "
                                 f"max_position_embeddings {max_positions}")
