"""``AutoModel.from_pretrained(folder)`` for microbiome models: config and model classes registered with transformers.

A stock ELECTRA folder cannot carry the fixed taxon-embedding table (the published models read
``inputs_embeds`` from a table kept outside the HF model, reference 7.1), so ``AutoModel`` on our
pretraining checkpoints would give an ``ElectraModel`` that knows no taxa. The model type
``microbiome-electra`` keeps both in one HF model: ``electra`` (the stock encoder, same weight
names) and ``taxon_embeddings`` (the token table: taxa, MASK, CLS, PAD). ``microbiome-lm
export-model`` writes such a folder from any checkpoint; :func:`register` (also reachable as
``microbiome_lm.register()``) adds the type to ``AutoConfig`` / ``AutoModel``. Offline, no hub,
no ``trust_remote_code``.

The forward takes taxon ids + abundances (or a coordinate-list array) and encodes them as the
model was trained (:func:`model.encoding.encode_samples`); token ids + attention mask work too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from transformers import AutoConfig, AutoModel, ElectraConfig, ElectraModel
from transformers.models.electra.modeling_electra import ElectraPreTrainedModel
from transformers.utils import ModelOutput

from ..core.arrays import validate_coordinate_array
from ..core.tokens import TokenTable
from ..model.encoding import encode_samples

MODEL_TYPE = "microbiome-electra"


class MicrobiomeElectraConfig(ElectraConfig):
    """ElectraConfig plus the vocabulary size (taxa only) and ``max_taxa``; specials follow the taxa."""

    model_type = MODEL_TYPE

    def __init__(self, n_vocab: int = 26726, max_taxa: int = 512, **kwargs):
        kwargs.setdefault("vocab_size", n_vocab + 3)
        kwargs.setdefault("max_position_embeddings", max_taxa + 1)
        super().__init__(**kwargs)
        self.n_vocab, self.max_taxa = n_vocab, max_taxa

    @property
    def pad_id(self) -> int:
        return self.n_vocab + 2


@dataclass
class MicrobiomeModelOutput(ModelOutput):
    """Contextual embeddings (CLS first), the per-sample CLS and mean-over-taxa vectors, and the tokens used."""

    last_hidden_state: torch.Tensor | None = None
    cls_embedding: torch.Tensor | None = None
    mean_embedding: torch.Tensor | None = None
    input_ids: torch.Tensor | None = None
    attention_mask: torch.Tensor | None = None


class MicrobiomeElectraModel(ElectraPreTrainedModel):
    """ELECTRA encoder fed from the taxon table; returns :class:`MicrobiomeModelOutput`."""

    config_class = MicrobiomeElectraConfig
    config: MicrobiomeElectraConfig

    def __init__(self, config: MicrobiomeElectraConfig):
        super().__init__(config)
        self.electra = ElectraModel(config)
        self.taxon_embeddings = nn.Embedding(config.vocab_size, config.embedding_size, padding_idx=config.pad_id)
        self.post_init()

    def tokenize(self, taxon_ids=None, abundances=None, samples=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids and attention mask from ids + abundances ``(batch, taxa)`` or samples ``(batch, taxa, 2)``."""
        if samples is None:
            if taxon_ids is None or abundances is None:
                raise ValueError("give taxon_ids and abundances, samples, or input_ids")
            samples = np.stack([np.asarray(torch.as_tensor(taxon_ids).cpu(), dtype=np.float64),
                                np.asarray(torch.as_tensor(abundances).cpu(), dtype=np.float64)], axis=-1)
        array = validate_coordinate_array(np.asarray(torch.as_tensor(samples).cpu(), dtype=np.float64), "samples",
                                          vocab_size=self.config.n_vocab)
        # encode_samples needs only the special ids, which a zero-width table of the right height carries.
        encoded = encode_samples(array, TokenTable(np.empty((self.config.vocab_size, 0), np.float32)),
                                 self.config.max_taxa)
        ids = encoded.ids[:, : int(encoded.lengths.max())].to(self.device)
        return ids, (ids != self.config.pad_id).long()

    def forward(self, input_ids=None, attention_mask=None, taxon_ids=None, abundances=None, samples=None,
                **kwargs) -> MicrobiomeModelOutput:
        if input_ids is None:
            input_ids, attention_mask = self.tokenize(taxon_ids, abundances, samples)
        elif attention_mask is None:
            attention_mask = (input_ids != self.config.pad_id).long()
        hidden = self.electra(inputs_embeds=self.taxon_embeddings(input_ids), attention_mask=attention_mask,
                              **kwargs).last_hidden_state
        taxa = attention_mask[:, 1:].unsqueeze(-1).to(hidden.dtype)
        mean = (hidden[:, 1:] * taxa).sum(dim=1) / taxa.sum(dim=1).clamp(min=1)
        return MicrobiomeModelOutput(last_hidden_state=hidden, cls_embedding=hidden[:, 0], mean_embedding=mean,
                                     input_ids=input_ids, attention_mask=attention_mask)


def register() -> None:
    """Make ``AutoConfig`` / ``AutoModel`` know ``microbiome-electra`` (idempotent)."""
    AutoConfig.register(MODEL_TYPE, MicrobiomeElectraConfig, exist_ok=True)
    AutoModel.register(MicrobiomeElectraConfig, MicrobiomeElectraModel, exist_ok=True)
