"""Sample and taxon embeddings and p(IBD) for mapped samples, in bounded-memory batches.

A batch of samples becomes a coordinate-list array (mapped counts summed per taxon), is encoded
exactly as the model was trained (:func:`model.encoding.encode_samples`: descending abundance,
top ``max_taxa``, CLS first) and padded only to its longest sample (positions are absolute and
PAD is never attended, so this equals full-length padding). The pretrained discriminator's
last hidden states give the CLS embedding, the mean over attended taxa and, on request, each
taxon's contextual embedding; p(IBD) is the mean over ensemble members of
``softmax(logits)[:, 1]`` (reference 7.3, step 3).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from scipy import sparse

from ..core.errors import InputError
from ..core.tokens import TokenTable
from ..model.electra import EmbeddedElectra
from ..model.encoding import attention_mask, encode_samples


def coordinate_rows(on_vocab: sparse.csr_matrix) -> np.ndarray:
    """``(n, width, 2)`` coordinate-list array of CSR rows (ascending id), width = the fullest row."""
    lengths = np.diff(on_vocab.indptr)
    out = np.zeros((on_vocab.shape[0], max(int(lengths.max(initial=0)), 1), 2), dtype=np.float64)
    rows = np.repeat(np.arange(on_vocab.shape[0]), lengths)
    slots = np.arange(on_vocab.nnz) - np.repeat(on_vocab.indptr[:-1], lengths)
    out[rows, slots, 0] = on_vocab.indices
    out[rows, slots, 1] = on_vocab.data
    return out


def check_model(model: EmbeddedElectra, table: TokenTable, n_vocab: int, max_taxa: int, source: str) -> None:
    """The model must know the vocabulary the samples were mapped to and fit CLS + max_taxa positions."""
    if table.n_vocab != n_vocab:
        raise InputError(source, f"model vocabulary has {table.n_vocab} taxa, the vocabulary FASTA {n_vocab}")
    positions = model.hf.config.max_position_embeddings
    if max_taxa + 1 > positions:
        raise InputError(source, f"encoding.max_taxa {max_taxa} needs {max_taxa + 1} positions, "
                                 f"the model has {positions}")


@dataclass
class BatchResult:
    cls: np.ndarray  # (b, hidden)
    mean: np.ndarray  # (b, hidden), NaN for a sample without taxa
    tokens: np.ndarray  # (b, length) token ids, CLS first
    hidden: np.ndarray | None  # (b, length, hidden) when taxon embeddings are wanted
    p_members: np.ndarray | None  # (b, n_members)


class SampleEmbedder:
    """The encoder (pretrained discriminator) and optional ensemble, applied batch by batch."""

    def __init__(self, encoder: EmbeddedElectra, ensemble: list[EmbeddedElectra], table: TokenTable,
                 max_taxa: int, device: torch.device):
        self.encoder, self.ensemble, self.table = encoder, ensemble, table
        self.max_taxa, self.device = max_taxa, device

    def tokens(self, array: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids and attention mask of a coordinate-list batch, padded to its longest sample."""
        encoded = encode_samples(array, self.table, self.max_taxa)
        ids = encoded.ids[:, : int(encoded.lengths.max())].to(self.device)
        return ids, attention_mask(ids, self.table.pad_id)

    @torch.no_grad()
    def embed(self, array: np.ndarray, keep_hidden: bool = False) -> BatchResult:
        ids, mask = self.tokens(array)
        hidden = self.encoder.encode(ids, mask).float()
        taxa = mask[:, 1:].unsqueeze(-1).float()
        n_taxa = taxa.sum(dim=1)
        mean = (hidden[:, 1:] * taxa).sum(dim=1) / n_taxa.clamp(min=1)
        mean[n_taxa.squeeze(-1) == 0] = float("nan")
        members = None
        if self.ensemble:
            members = torch.stack([torch.softmax(m(ids, mask).logits.float(), dim=-1)[:, 1] for m in self.ensemble],
                                  dim=1).cpu().numpy()
        return BatchResult(cls=hidden[:, 0].cpu().numpy(), mean=mean.cpu().numpy(), tokens=ids.cpu().numpy(),
                           hidden=hidden.cpu().numpy() if keep_hidden else None, p_members=members)


def sample_frame(sample_ids: list[str], result: BatchResult) -> pd.DataFrame:
    """Per-sample embeddings: ``cls_<d>`` then ``mean_<d>`` columns."""
    dims = result.cls.shape[1]
    columns = [f"cls_{d}" for d in range(dims)] + [f"mean_{d}" for d in range(dims)]
    frame = pd.DataFrame(np.hstack([result.cls, result.mean]).astype(np.float32), columns=columns)
    frame.insert(0, "sample_id", sample_ids)
    return frame


def prediction_frame(sample_ids: list[str], result: BatchResult, member_names: list[str]) -> pd.DataFrame:
    """p(IBD) = mean over members of softmax(logits)[:, 1], then each member's own."""
    frame = pd.DataFrame(result.p_members, columns=[f"p_ibd_{name}" for name in member_names])
    frame.insert(0, "p_ibd", result.p_members.mean(axis=1))
    frame.insert(0, "sample_id", sample_ids)
    return frame


def taxon_frame(sample_ids: list[str], array: np.ndarray, result: BatchResult, table: TokenTable) -> pd.DataFrame:
    """One row per (sample, encoded taxon): its rank, reads and contextual embedding ``emb_<d>``."""
    taxa = result.tokens[:, 1:]
    rows, ranks = np.nonzero(taxa != table.pad_id)
    vocab_ids = taxa[rows, ranks]
    reads = np.zeros(len(rows), dtype=np.int64)
    for i, (row, taxon) in enumerate(zip(rows, vocab_ids)):
        reads[i] = array[row, array[row, :, 0] == taxon, 1].sum()
    embeddings = result.hidden[rows, ranks + 1].astype(np.float32)
    frame = pd.DataFrame(embeddings, columns=[f"emb_{d}" for d in range(embeddings.shape[1])])
    frame.insert(0, "reads", reads)
    frame.insert(0, "rank", ranks + 1)
    frame.insert(0, "vocab_id", vocab_ids)
    frame.insert(0, "sample_id", np.asarray(sample_ids, dtype=object)[rows])
    return frame
