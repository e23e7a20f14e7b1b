"""Checkpoint directories: write ours, read ours, HF ``save_pretrained`` output and the Dryad ones.

Ours are self-contained (DESIGN "Checkpoint directory"): ``config.json`` +
``model.safetensors`` (HF ``save_pretrained``), the input token table with its special ids
(:meth:`TokenTable.save`) and ``meta.json`` (seed, library versions, training config, data
checksums). The published folders (``5head5layer_epoch*_disc``, ``run*_epoch0_disc``)
hold only ``config.json`` + ``pytorch_model.bin`` (reference 7.1), possibly with the stale
``electra.embeddings.position_ids`` buffer; they are read with ``torch.load(...,
weights_only=True)``, never unrestricted pickle, and their token table is rebuilt from the
vocabulary embeddings (reference 7.3).
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from transformers import ElectraConfig

from ..core.atomic import atomic_dir
from ..core.errors import InputError
from ..core.tokens import TOKEN_TABLE_FILE, TokenTable, build_token_table, load_vocab_embeddings
from .electra import ARCHITECTURES, EmbeddedElectra

CONFIG_FILE = "config.json"
SAFETENSORS_FILE = "model.safetensors"
BIN_FILE = "pytorch_model.bin"
META_FILE = "meta.json"
# Buffers that older transformers versions saved and current ones recompute (reference 7.1).
STALE_BUFFERS = ("electra.embeddings.position_ids", "electra.embeddings.token_type_ids")


@dataclass
class Checkpoint:
    """A loaded checkpoint: the model (eval mode, on ``device``), its token table and metadata."""

    model: EmbeddedElectra
    table: TokenTable
    architecture: str
    meta: dict = field(default_factory=dict)


def save_checkpoint(directory: str | Path, model: EmbeddedElectra, meta: dict) -> Path:
    """Write ``model`` (HF weights + current token table) and ``meta`` atomically into ``directory``."""
    directory = Path(directory)
    with atomic_dir(directory) as tmp:
        model.hf.save_pretrained(tmp, safe_serialization=True)
        model.token_table().save(tmp)
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")
    return directory


def _read_config(directory: Path, attn_implementation: str) -> tuple[ElectraConfig, str]:
    path = directory / CONFIG_FILE
    if not path.is_file():
        raise InputError(path, "checkpoint has no config.json")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise InputError(path, f"not valid JSON ({err})") from err
    architectures = raw.get("architectures") or []
    if not architectures or architectures[0] not in ARCHITECTURES:
        raise InputError(path, f"architectures {architectures} is not one of {sorted(ARCHITECTURES)}")
    if raw.get("model_type", "electra") != "electra":
        raise InputError(path, f"model_type {raw.get('model_type')!r} is not 'electra'")
    config = ElectraConfig.from_dict(raw)
    config._attn_implementation = attn_implementation
    return config, architectures[0]


def _read_weights(directory: Path) -> tuple[dict[str, torch.Tensor], Path]:
    safetensors_path, bin_path = directory / SAFETENSORS_FILE, directory / BIN_FILE
    if safetensors_path.is_file():
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(safetensors_path)), safetensors_path
        except SafetensorError as err:
            raise InputError(safetensors_path, f"not a readable safetensors file ({err})") from err
    if bin_path.is_file():
        try:
            state = torch.load(bin_path, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError) as err:
            raise InputError(bin_path, f"refused: not a plain tensor state dict ({err})") from err
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise InputError(bin_path, "expected a mapping of parameter names to tensors")
        return state, bin_path
    raise InputError(directory, f"checkpoint has neither {SAFETENSORS_FILE} nor {BIN_FILE}")


def _token_table(directory: Path, config: ElectraConfig, vocab_embeddings, mask_init: str,
                 cls_init: str) -> TokenTable:
    if (directory / TOKEN_TABLE_FILE).is_file():
        table = TokenTable.load(directory)
        source: str | Path = directory / TOKEN_TABLE_FILE
    elif vocab_embeddings is None:
        raise InputError(directory, "checkpoint has no token table; pass the vocabulary embeddings to build one")
    else:
        source = vocab_embeddings if not isinstance(vocab_embeddings, np.ndarray) else "vocabulary embeddings"
        emb = vocab_embeddings if isinstance(vocab_embeddings, np.ndarray) else load_vocab_embeddings(vocab_embeddings)
        table = build_token_table(emb, mask_init=mask_init, cls_init=cls_init)
    if table.size != config.vocab_size or table.dim != config.embedding_size:
        raise InputError(source, f"token table is {table.size} x {table.dim}, the checkpoint expects "
                                 f"vocab_size {config.vocab_size} x embedding_size {config.embedding_size}")
    return table


def load_checkpoint(directory: str | Path, vocab_embeddings: str | Path | np.ndarray | None = None,
                    mask_init: str = "min", cls_init: str = "mean", attn_implementation: str = "sdpa",
                    device: str | torch.device = "cpu") -> Checkpoint:
    """Load any ELECTRA checkpoint directory in one call.

    Ours carry their token table; for HF or published folders without one, the table is
    built from ``vocab_embeddings`` with ``mask_init`` / ``cls_init`` (reference 7.3: MASK =
    per-dimension min; CLS = mean to match pretraining, zeros to match published finetuning).
    Every weight must match the architecture: only the stale position/token-type buffers and
    the tied generator LM-head weight may be absent or extra. Torch's global random state is
    left as it was, so loading never shifts a training run's random stream.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(directory, "checkpoint directory not found")
    config, architecture = _read_config(directory, attn_implementation)
    state, weights_path = _read_weights(directory)
    state = {k: v for k, v in state.items() if k not in STALE_BUFFERS}
    table = _token_table(directory, config, vocab_embeddings, mask_init, cls_init)
    hf_class, wrapper = ARCHITECTURES[architecture]
    with torch.random.fork_rng(devices=[]):
        hf = hf_class(config)
    try:
        result = hf.load_state_dict(state, strict=False)
    except RuntimeError as err:
        raise InputError(weights_path, f"weights do not fit {architecture} as configured ({err})") from err
    tied = {"generator_lm_head.weight"} if config.tie_word_embeddings else set()
    missing = sorted(set(result.missing_keys) - tied)
    if missing or result.unexpected_keys:
        raise InputError(weights_path, f"weights do not match {architecture}: missing {missing}, "
                                       f"unexpected {sorted(result.unexpected_keys)}")
    model = wrapper(hf, table).to(device).eval()
    meta_path = directory / META_FILE
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {"source": str(weights_path)}
    return Checkpoint(model=model, table=table, architecture=architecture, meta=meta)
