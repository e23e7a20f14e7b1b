"""ELECTRA models fed from the fixed taxon-embedding table, on Hugging Face transformers.

The original wrappers (reference 5, 6) kept an ``nn.Embedding`` outside the HF model and
passed ``inputs_embeds``; HF's own ``word_embeddings`` is never an input (in the generator it
is only the tied LM-head weight, reference 13 #29). :class:`EmbeddedElectra` keeps exactly
that split, so ``model.hf`` is a stock HF model whose ``save_pretrained`` output has the
published key layout (reference 7.1).

Speed-ups that do not change the maths: the generator's LM head runs only on the selected
(masked) positions (:meth:`Generator.masked_logits`), and the replacement tokens for the
discriminator come from the same masked-only head.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import (
    ElectraConfig,
    ElectraForMaskedLM,
    ElectraForPreTraining,
    ElectraForSequenceClassification,
    PreTrainedModel,
)

from ..core.tokens import TokenTable

REPLACEMENTS = ("greedy", "sample")


def electra_config(model_cfg: dict, role: str, table: TokenTable, max_taxa: int) -> ElectraConfig:
    """HF config for ``role`` ("generator" or "discriminator") from the ``model:`` config section.

    vocab_size is the whole token table (taxa + MASK, CLS, PAD; 26729 in the paper),
    embedding_size its width, and max_position_embeddings = CLS + max_taxa (513).
    """
    arch = model_cfg["generator"] if role == "generator" else model_cfg
    return ElectraConfig(
        vocab_size=table.size,
        embedding_size=table.dim,
        hidden_size=arch["hidden_size"],
        num_hidden_layers=arch["num_hidden_layers"],
        num_attention_heads=arch["num_attention_heads"],
        intermediate_size=arch["intermediate_size"],
        max_position_embeddings=max_taxa + 1,
        hidden_dropout_prob=model_cfg["hidden_dropout_prob"],
        attention_probs_dropout_prob=model_cfg["attention_probs_dropout_prob"],
        initializer_range=model_cfg["initializer_range"],
        attn_implementation=model_cfg["attn_implementation"],
    )


class EmbeddedElectra(nn.Module):
    """An HF ELECTRA model (``.hf``) whose inputs come from a token table (``.embed``).

    PAD is the embedding's ``padding_idx`` (its row never receives gradient), as in the
    original ``nn.Embedding(26729, 100, padding_idx=26728)``.
    """

    def __init__(self, hf: PreTrainedModel, table: TokenTable, train_embeddings: bool = False):
        super().__init__()
        self.hf = hf
        weights = torch.from_numpy(table.embeddings.astype("float32", copy=True))
        self.embed = nn.Embedding.from_pretrained(weights, freeze=not train_embeddings, padding_idx=table.pad_id)
        self.n_vocab = table.n_vocab
        self.mask_id, self.cls_id, self.pad_id = table.mask_id, table.cls_id, table.pad_id

    def token_table(self) -> TokenTable:
        """The current input table (trained rows included), as stored next to a checkpoint."""
        return TokenTable(self.embed.weight.detach().float().cpu().numpy().copy())

    def encode(self, ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Last hidden states ``(batch, length, hidden)`` of the ELECTRA encoder."""
        out = self.hf.electra(inputs_embeds=self.embed(ids), attention_mask=attention_mask)
        return out.last_hidden_state

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor, **kwargs):
        """The HF model's own forward on the table rows of ``ids`` (its usual output object)."""
        return self.hf(inputs_embeds=self.embed(ids), attention_mask=attention_mask, **kwargs)


class Generator(EmbeddedElectra):
    """``ElectraForMaskedLM`` as published (reference 5): trainable table, tied LM head."""

    def masked_logits(self, ids: torch.Tensor, attention_mask: torch.Tensor,
                      selected: torch.Tensor) -> torch.Tensor:
        """LM logits ``(n_selected, vocab)`` at the selected positions only.

        Equal to ``forward(...).logits[selected]``, without the ``(batch, length, vocab)``
        tensor (32 x 513 x 26729 in the paper) of which the loss reads ~15 %.
        """
        hidden = self.encode(ids, attention_mask)[selected]
        return self.hf.generator_lm_head(self.hf.generator_predictions(hidden))

    def selected_logits(self, ids: torch.Tensor, attention_mask: torch.Tensor, selected: torch.Tensor,
                        masked_only: bool = True) -> torch.Tensor:
        """Logits at the selected positions, through the masked-only head or the full one."""
        if masked_only:
            return self.masked_logits(ids, attention_mask, selected)
        return self.forward(ids, attention_mask).logits[selected]

    @torch.no_grad()
    def replacements(self, ids: torch.Tensor, attention_mask: torch.Tensor, selected: torch.Tensor,
                     mode: str = "greedy", rng: torch.Generator | None = None,
                     masked_only: bool = True) -> torch.Tensor:
        """Token ids the generator proposes at the selected positions, ``(n_selected,)``.

        ``greedy`` is the published argmax over all table rows, specials included
        (reference 6, 13 #7); ``sample`` draws from the softmax as in ELECTRA.
        """
        logits = self.selected_logits(ids, attention_mask, selected, masked_only).float()
        if mode == "greedy":
            return logits.argmax(dim=-1)
        if mode == "sample":
            probs = torch.softmax(logits, dim=-1)
            return torch.multinomial(probs, 1, generator=rng).squeeze(-1)
        raise ValueError(f"replacement must be one of {REPLACEMENTS}, got {mode!r}")


class Discriminator(EmbeddedElectra):
    """``ElectraForPreTraining`` as published (reference 6): replaced-token detection logits."""

    def rtd_logits(self, ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.forward(ids, attention_mask).logits


# HF architecture name -> (HF class, wrapper class). The ensemble classifiers load as the plain wrapper.
ARCHITECTURES: dict[str, tuple[type[PreTrainedModel], type[EmbeddedElectra]]] = {
    "ElectraForPreTraining": (ElectraForPreTraining, Discriminator),
    "ElectraForMaskedLM": (ElectraForMaskedLM, Generator),
    "ElectraForSequenceClassification": (ElectraForSequenceClassification, EmbeddedElectra),
}


def build_model(role: str, config: ElectraConfig, table: TokenTable, train_embeddings: bool) -> EmbeddedElectra:
    """A freshly initialised generator or discriminator (weights from torch's global RNG)."""
    name = "ElectraForMaskedLM" if role == "generator" else "ElectraForPreTraining"
    hf_class, wrapper = ARCHITECTURES[name]
    return wrapper(hf_class(config), table, train_embeddings=train_embeddings)
