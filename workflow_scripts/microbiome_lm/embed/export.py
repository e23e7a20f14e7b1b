"""``microbiome-lm export-model``: any checkpoint folder -> an ``AutoModel``-ready ``microbiome-electra`` folder.

Takes ours (token table inside), HF ``save_pretrained`` output or a published Dryad folder
(table rebuilt from ``--vocab-embeddings``, reference 7.3) and writes ``config.json`` (model type
``microbiome-electra``), ``model.safetensors`` (encoder + taxon table), the token table files and
``meta.json`` naming the source, atomically. Task heads (RTD, classifier) are not exported: the
folder is an encoder.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..config import add_config_arguments, config_from_args
from ..core.atomic import atomic_dir
from ..model.checkpoint import META_FILE, load_checkpoint
from .hf_auto import MicrobiomeElectraConfig, MicrobiomeElectraModel

DROPPED_CONFIG_KEYS = ("architectures", "model_type", "transformers_version", "id2label", "label2id")


def export_automodel(checkpoint: str | Path, out_dir: str | Path, vocab_embeddings: str | Path | None = None,
                     mask_init: str = "min", cls_init: str = "mean") -> Path:
    """Write the encoder of ``checkpoint`` with its taxon table as a ``microbiome-electra`` folder."""
    loaded = load_checkpoint(checkpoint, vocab_embeddings=vocab_embeddings, mask_init=mask_init, cls_init=cls_init)
    source = loaded.model.hf.config.to_dict()
    settings = {k: v for k, v in source.items() if k not in DROPPED_CONFIG_KEYS}
    settings.update(n_vocab=loaded.table.n_vocab, max_taxa=source["max_position_embeddings"] - 1)
    model = MicrobiomeElectraModel(MicrobiomeElectraConfig(**settings))
    model.electra.load_state_dict(loaded.model.hf.electra.state_dict())
    model.taxon_embeddings.load_state_dict(loaded.model.embed.state_dict())
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp)
        loaded.table.save(tmp)
        meta = {"exported_from": str(checkpoint), "architecture": loaded.architecture, "source_meta": loaded.meta}
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")
    return Path(out_dir)


def register(subparsers) -> None:
    p = subparsers.add_parser("export-model", help="write an AutoModel-ready folder (model type microbiome-electra)",
                              description=__doc__.splitlines()[0])
    add_config_arguments(p)  # uses model.mask_init, model.cls_init_pretrain for folders without a table
    p.add_argument("--checkpoint", required=True, help="checkpoint folder (ours, HF or published)")
    p.add_argument("--vocab-embeddings", default=None, help="vocab_embeddings.npy, for folders without a token table")
    p.add_argument("--out", required=True, type=Path, help="output folder (replaced atomically)")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    import transformers

    transformers.utils.logging.disable_progress_bar()  # one log line per job, not shard bars
    cfg = config_from_args(args)["model"]
    export_automodel(args.checkpoint, args.out, args.vocab_embeddings, cfg["mask_init"], cfg["cls_init_pretrain"])
    return 0
