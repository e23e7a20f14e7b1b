"""ELECTRA models fed from the fixed taxon-embedding table, on Hugging Face transformers.

The original wrappers (reference 5, 6) kept an ``nn.Embedding`` outside the HF model and
passed ``inputs_embeds``; HF's own ``word_embeddings`` is never an input (in the generator it
is only the tied LM-head weight, reference 13 #29). :class:`EmbeddedElectra` keeps exactly
that split, so ``model.hf`` is a stock HF model whose ``save_pretrained`` output has the
published key layout (reference 7.1).

Speed-ups that do not change the maths: the generator's LM head, and its last encoder
layer, run only on the selected (masked) positions (:meth:`Generator.masked_logits`; the last
layer still attends to every position, it just computes no query, FFN or output that the
loss never reads), and the replacement tokens for the discriminator come from the same
masked-only path.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.models.electra.modeling_electra import eager_attention_forward
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
        tensor (32 x 513 x 26729 in the paper) of which the loss reads ~15 %, and with the
        last encoder layer evaluated for the selected queries only.
        """
        if getattr(self, "compiled", False) or len(self.hf.electra.encoder.layer) == 0:
            hidden = self.encode(ids, attention_mask)[selected]
        else:
            hidden = self._encode_selected(ids, attention_mask, selected)
        return self.hf.generator_lm_head(self.hf.generator_predictions(hidden))

    def _encode_selected(self, ids: torch.Tensor, attention_mask: torch.Tensor,
                         selected: torch.Tensor) -> torch.Tensor:
        """Last hidden states at the selected positions, ``(n_selected, hidden)``, in
        ``tensor[selected]`` order: all layers but the last as HF runs them, then the last
        layer's attention (every key and value, the selected queries), output and FFN on
        the selected rows alone."""
        encoder = self.hf.electra.encoder
        layers = encoder.layer
        encoder.layer = layers[:-1]
        try:
            hidden = self.encode(ids, attention_mask)
        finally:
            encoder.layer = layers
        last = layers[-1]
        counts = selected.sum(dim=1)
        width = int(counts.max()) if counts.numel() else 0
        if width == 0:  # nothing selected: an empty result that is still part of the graph
            return last(hidden, None)[selected]
        rows = torch.argsort((~selected).to(torch.int8), dim=1, stable=True)[:, :width]  # selected first, in order
        valid = torch.arange(width, device=ids.device)[None, :] < counts[:, None]
        queries = hidden.gather(1, rows[..., None].expand(-1, -1, hidden.shape[-1]))
        attn = last.attention.self
        batch, length, _ = hidden.shape
        split = (-1, attn.attention_head_size)
        q = attn.query(queries).view(batch, width, *split).transpose(1, 2)
        k = attn.key(hidden).view(batch, length, *split).transpose(1, 2)
        v = attn.value(hidden).view(batch, length, *split).transpose(1, 2)
        implementation = self.hf.config._attn_implementation
        keys = attention_mask.bool()[:, None, None, :]
        if implementation == "eager":
            keys = torch.zeros(keys.shape, dtype=hidden.dtype, device=hidden.device).masked_fill(
                ~keys, torch.finfo(hidden.dtype).min)
        interface = ALL_ATTENTION_FUNCTIONS.get_interface(implementation, eager_attention_forward)
        context, _ = interface(attn, q, k, v, keys, dropout=attn.dropout.p if attn.training else 0.0,
                               scaling=attn.scaling)
        attended = last.attention.output(context.reshape(batch, width, -1), queries)
        return last.feed_forward_chunk(attended)[valid]

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
