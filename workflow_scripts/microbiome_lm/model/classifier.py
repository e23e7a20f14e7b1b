"""The finetuning classifier (reference 8.1, 8.2): ELECTRA + classification head on CLS.

A :class:`ClassifierMember` is one model: a stock HF ``ElectraForSequenceClassification``
(``.hf``, num_labels 2) whose ``electra.*`` weights come from a pretrained discriminator,
fed from the token table. The published freezing is reproduced with named options:

* ``table_rows`` (their ``--freeze_opt``): ``cls`` = only the CLS row trains (freeze_opt 2:
  the vocabulary rows' gradients were zeroed; PAD never gets one and MASK never occurs, so in
  effect only CLS moved), ``none`` = the table is fixed (1), ``all`` = every taxon row trains
  too (0). The CLS row is held as its own parameter, so ``cls`` never carries a gradient of
  the whole (26729, 100) table.
* ``frozen_layers`` (their ``--freeze_encoders k``): encoder layers ``0..k-1`` frozen. With
  k = 5 (all published scripts) the whole encoder is fixed while the embedding block
  (position and token-type embeddings, LayerNorm), the 100->200 projection, the CLS row and
  the head train (reference 13 #14). HF's own ``word_embeddings`` is never an input (13 #29)
  and is frozen.

:class:`MemberStack` runs several members as one batch: every member's trainable front
(table rows, embedding block, projection, unfrozen layers) runs on its own rows, the frozen
encoder layers, identical in all members and therefore shared module objects, run once on
the members' batches concatenated, and each member's head reads its own slice. The maths is
that of each member alone (PAD is never attended and positions are absolute, so padding the
concatenation to a common width changes no output beyond float rounding).

The output is p(class 1) = softmax(logits)[:, 1] (reference 7.3).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from transformers import ElectraConfig, ElectraForSequenceClassification
from transformers.masking_utils import create_bidirectional_mask

from ..core.errors import InputError
from ..core.tokens import TokenTable
from .checkpoint import load_checkpoint

TABLE_ROWS = ("cls", "none", "all")


def drop_tokens(ids: torch.Tensor, pad_id: int, p: float, generator: torch.Generator) -> torch.Tensor:
    """Drop each taxon token with probability ``p``; survivors shift left, PAD fills the tail.

    As the published finetuning dataset (reference 4, "input_dropout"): CLS (position 0) is
    never dropped. The draws cover the full width of ``ids`` whatever the content, so a
    row's draws do not depend on the other rows or on later padding decisions.
    """
    if p <= 0:
        return ids
    draws = torch.rand(ids.shape, generator=generator)
    keep = (draws >= p) & (ids != pad_id)
    keep[:, 0] = True
    order = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)
    shifted = torch.gather(ids, 1, order)
    return shifted.masked_fill(~torch.gather(keep, 1, order), pad_id)


def probability_of_class1(logits: torch.Tensor) -> torch.Tensor:
    """p(class 1) = softmax(logits)[:, 1], the score every protocol reads."""
    return torch.softmax(logits.float(), dim=-1)[:, 1]


class ClassifierMember(nn.Module):
    """One finetuning model: HF sequence classifier + its input table (see module docstring)."""

    def __init__(self, hf: ElectraForSequenceClassification, table: TokenTable, cls_row: torch.Tensor,
                 table_rows: str = "cls", frozen_layers: int = 0):
        super().__init__()
        if table_rows not in TABLE_ROWS:
            raise ValueError(f"table_rows must be one of {TABLE_ROWS}, got {table_rows!r}")
        self.hf = hf
        weights = torch.from_numpy(table.embeddings.astype("float32", copy=True))
        self.table = nn.Parameter(weights, requires_grad=table_rows == "all")
        self.cls = nn.Parameter(cls_row.detach().clone().float(), requires_grad=table_rows != "none")
        self.cls_id, self.pad_id = table.cls_id, table.pad_id
        self.frozen_layers = min(frozen_layers, hf.config.num_hidden_layers)
        hf.electra.embeddings.word_embeddings.weight.requires_grad_(False)
        for layer in hf.electra.encoder.layer[: self.frozen_layers]:
            layer.requires_grad_(False)

    def token_table(self) -> TokenTable:
        """The current input table with the trained CLS row, as stored next to a checkpoint."""
        weights = self.table.detach().float().cpu().clone()
        weights[self.cls_id] = self.cls.detach().float().cpu()
        return TokenTable(weights.numpy())

    def input_embeddings(self, ids: torch.Tensor) -> torch.Tensor:
        """Table rows of ``ids`` with the CLS parameter at position 0 (where encoding puts CLS)."""
        rest = nn.functional.embedding(ids[:, 1:], self.table, padding_idx=self.pad_id)
        return torch.cat([self.cls.expand(ids.shape[0], 1, -1), rest], dim=1)

    def front(self, ids: torch.Tensor) -> torch.Tensor:
        """Embedding block and projection: the hidden states that enter encoder layer 0."""
        electra = self.hf.electra
        hidden = electra.embeddings(inputs_embeds=self.input_embeddings(ids))
        if hasattr(electra, "embeddings_project"):
            hidden = electra.embeddings_project(hidden)
        return hidden

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, 2)`` through the stock HF forward (the reference for MemberStack)."""
        return self.hf(inputs_embeds=self.input_embeddings(ids), attention_mask=attention_mask).logits


def classifier_config(pretrained: ElectraConfig, model_cfg: dict) -> ElectraConfig:
    """The pretrained architecture with two labels and the configured dropout (reference 8.1)."""
    config = ElectraConfig.from_dict({
        **pretrained.to_dict(), "num_labels": 2, "architectures": ["ElectraForSequenceClassification"],
        "hidden_dropout_prob": model_cfg["hidden_dropout_prob"],
        "attention_probs_dropout_prob": model_cfg["attention_probs_dropout_prob"],
        "initializer_range": model_cfg["initializer_range"],
    })
    config._attn_implementation = model_cfg["attn_implementation"]
    return config


def build_member(encoder_state: dict[str, torch.Tensor], config: ElectraConfig, table: TokenTable,
                 cls_row: torch.Tensor, seed: int, table_rows: str, frozen_layers: int) -> ClassifierMember:
    """A member whose head is initialised from ``seed`` and whose encoder is ``encoder_state``.

    ``encoder_state`` holds the pretrained ``electra.*`` weights (prefix stripped).
    Torch's global random state is left untouched.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        hf = ElectraForSequenceClassification(config)
    hf.electra.load_state_dict(encoder_state)
    return ClassifierMember(hf, table, cls_row, table_rows, frozen_layers)


def _encoder_mask(config: ElectraConfig, hidden: torch.Tensor, attention_mask: torch.Tensor):
    return create_bidirectional_mask(config=config, inputs_embeds=hidden, attention_mask=attention_mask)


class MemberStack(nn.Module):
    """Several members with a shared frozen encoder prefix, run as one batch (module docstring)."""

    def __init__(self, members: list[ClassifierMember]):
        super().__init__()
        if not members:
            raise ValueError("a stack needs at least one member")
        self.members = nn.ModuleList(members)
        self.shared = min(m.frozen_layers for m in members)
        first = members[0].hf.electra.encoder.layer
        for member in members[1:]:  # frozen layers are identical: share the objects (one copy in memory)
            for i in range(self.shared):
                member.hf.electra.encoder.layer[i] = first[i]
        self.config = members[0].hf.config

    def forward(self, batches: list[tuple[int, torch.Tensor, torch.Tensor]]) -> list[torch.Tensor]:
        """Logits of each ``(member index, ids, attention_mask)``; all ids padded to one width."""
        fronts = [self.members[k].front(ids) for k, ids, _ in batches]
        masks = [mask for _, _, mask in batches]
        sizes = [ids.shape[0] for _, ids, _ in batches]
        hidden, mask = torch.cat(fronts), torch.cat(masks)
        if self.shared:
            encoder_mask = _encoder_mask(self.config, hidden, mask)
            for layer in self.members[0].hf.electra.encoder.layer[: self.shared]:
                hidden = layer(hidden, encoder_mask)
        logits = []
        for (k, _, member_mask), part in zip(batches, torch.split(hidden, sizes)):
            hf = self.members[k].hf
            layers = hf.electra.encoder.layer[self.shared:]
            if len(layers):
                member_encoder_mask = _encoder_mask(self.config, part, member_mask)
                for layer in layers:
                    part = layer(part, member_encoder_mask)
            logits.append(hf.classifier(part))
        return logits


def finetune_start(pretrained_dir, vocab_embeddings, model_cfg: dict, max_taxa: int):
    """What every member starts from: encoder weights, classifier config, token table, CLS row.

    ``pretrained_dir`` is any checkpoint :func:`load_checkpoint` reads (ours, HF, the Dryad
    ``5head5layer_epoch120_disc``). The CLS row restarts from ``model.cls_init_finetune``
    (zeros as published, reference 13 #2) whatever the checkpoint's table holds.
    """
    ckpt = load_checkpoint(pretrained_dir, vocab_embeddings=vocab_embeddings, mask_init=model_cfg["mask_init"],
                           cls_init=model_cfg["cls_init_finetune"],
                           attn_implementation=model_cfg["attn_implementation"])
    hf_config = ckpt.model.hf.config
    if hf_config.max_position_embeddings < max_taxa + 1:
        raise InputError(pretrained_dir, f"checkpoint handles {hf_config.max_position_embeddings} positions, "
                                         f"encoding.max_taxa + 1 is {max_taxa + 1}")
    table = ckpt.table
    vocab = table.embeddings[: table.n_vocab]
    cls_row = np.zeros(table.dim) if model_cfg["cls_init_finetune"] == "zeros" else vocab.mean(axis=0)
    state = {k: v.detach().clone() for k, v in ckpt.model.hf.electra.state_dict().items()}
    return state, classifier_config(hf_config, model_cfg), table, torch.tensor(cls_row, dtype=torch.float32)
