"""``microbiome-lm embed``: a user's table in, embeddings, p(IBD) and the coverage report out.

Read (:mod:`.readers`) -> map onto the vocabulary (:mod:`.mapping`) -> per-sample vocabulary
counts and coverage (:mod:`.coverage`, fails below ``embed.fail_fraction``) -> batches through
the pretrained discriminator and the ensemble (:mod:`.embedder`) -> streamed outputs
(:mod:`.sinks`). Every output is written atomically; a failure leaves none of them.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from ..config import add_config_arguments, config_from_args
from ..core.atomic import atomic_path
from ..core.errors import ConfigError
from ..data.fasta import read_vocabulary_fasta
from ..model.checkpoint import load_checkpoint
from ..train.device import resolve_device
from .coverage import coverage_report, vocabulary_counts
from .embedder import SampleEmbedder, check_model, coordinate_rows, prediction_frame, sample_frame, taxon_frame
from .mapping import map_to_vocabulary
from .readers import read_feature_table
from .sinks import TableSink

log = logging.getLogger(__name__)
OUTPUT_FORMATS = ("parquet", "tsv", "h5ad")
# Files written into --out-dir (the rule names the same ones).
COVERAGE_FILE, MAPPING_FILE, H5AD_FILE = "coverage.tsv", "asv_mapping.tsv", "embeddings.h5ad"
EMBEDDINGS_STEM, PREDICTIONS_STEM, TAXA_STEM = "embeddings", "predictions", "taxon_embeddings"


def anndata_available() -> bool:
    return importlib.util.find_spec("anndata") is not None


def _load_models(args, cfg: dict, device: torch.device, n_vocab: int):
    model_cfg, max_taxa = cfg["model"], cfg["encoding"]["max_taxa"]
    encoder = load_checkpoint(args.checkpoint, vocab_embeddings=args.vocab_embeddings,
                              mask_init=model_cfg["mask_init"], cls_init=model_cfg["cls_init_pretrain"], device=device)
    check_model(encoder.model, encoder.table, n_vocab, max_taxa, args.checkpoint)
    members = []
    for folder in args.ensemble or []:
        member = load_checkpoint(folder, vocab_embeddings=args.vocab_embeddings, mask_init=model_cfg["mask_init"],
                                 cls_init=model_cfg["cls_init_finetune"], device=device)
        check_model(member.model, member.table, n_vocab, max_taxa, folder)
        members.append(member.model)
    return SampleEmbedder(encoder.model, members, encoder.table, max_taxa, device)


def _write_h5ad(path: Path, coverage, embeddings, predictions) -> None:
    """AnnData: X = mean-over-taxa embedding, obsm X_cls / X_mean, obs = coverage (+ p(IBD))."""
    import anndata

    obs = coverage.set_index("sample_id")
    if predictions is not None:
        obs = obs.join(predictions.set_index("sample_id"))
    cls = embeddings.filter(regex=r"^cls_").to_numpy(np.float32)
    mean = embeddings.filter(regex=r"^mean_").to_numpy(np.float32)
    # anndata 0.12 cannot write pandas 3's arrow-backed strings: object-dtype ids and categories.
    obs.index = pd.Index(obs.index.to_numpy(dtype=object), dtype=object, name=None)
    obs["status"] = pd.Categorical(obs["status"].to_numpy(dtype=object),
                                   categories=pd.Index(sorted(set(obs["status"])), dtype=object))
    adata = anndata.AnnData(X=mean, obs=obs, obsm={"X_cls": cls, "X_mean": mean})
    adata.var_names = pd.Index([f"dim_{d}" for d in range(mean.shape[1])], dtype=object)
    adata.write_h5ad(path)


def _stream(stack, out: Path, table, on_vocab, embedder, names, formats, keep_taxa, batch_size, want_h5ad,
            no_progress) -> dict[str, list[pd.DataFrame]]:
    """Embed batch after batch, appending to the sinks; per-sample frames are kept only for the .h5ad."""
    samples_sink = TableSink(stack, out, EMBEDDINGS_STEM, formats)
    predictions_sink = TableSink(stack, out, PREDICTIONS_STEM, formats) if names else None
    taxa_sink = TableSink(stack, out, TAXA_STEM, formats) if keep_taxa else None
    collected: dict[str, list[pd.DataFrame]] = {"embeddings": [], "predictions": []}
    for start in tqdm(range(0, table.n_samples, batch_size), desc="embed", unit="batch", disable=no_progress):
        ids = table.sample_ids[start:start + batch_size]
        array = coordinate_rows(on_vocab[start:start + batch_size])
        result = embedder.embed(array, keep_hidden=keep_taxa)
        frames = {"embeddings": sample_frame(ids, result)}
        samples_sink.append(frames["embeddings"])
        if predictions_sink is not None:
            frames["predictions"] = prediction_frame(ids, result, names)
            predictions_sink.append(frames["predictions"])
        if taxa_sink is not None:
            taxa_sink.append(taxon_frame(ids, array, result, embedder.table))
        if want_h5ad:
            for key, frame in frames.items():
                collected[key].append(frame)
    return collected


def run_embed(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    ecfg = cfg["embed"]
    # --table replaces the config's table and its sequences together.
    table_path, sequences = (args.table, args.sequences) if args.table else (ecfg["table"], ecfg["sequences"])
    if table_path is None:
        raise ConfigError("configuration", "no table to embed: give --table or set config key embed.table")
    torch.set_num_threads(cfg["threads"])
    device = resolve_device(args.device or cfg["device"])
    vocab = read_vocabulary_fasta(args.vocab_fasta)
    table = read_feature_table(table_path, sequences, ecfg["format"])
    mapping = map_to_vocabulary(table.feature_ids, table.sequences, vocab, identity=ecfg["identity"],
                                min_overlap=ecfg["min_overlap"], search=ecfg["search"], threads=cfg["threads"])
    vocab_ids = mapping["vocab_id"].to_numpy()
    on_vocab = vocabulary_counts(table, vocab_ids, len(vocab))
    coverage = coverage_report(table, vocab_ids, on_vocab, ecfg["warn_fraction"], ecfg["fail_fraction"])
    embedder = _load_models(args, cfg, device, len(vocab))
    names = [Path(folder).name for folder in args.ensemble or []]
    formats = tuple(ecfg["formats"])
    keep_taxa = ecfg["taxon_embeddings"] or args.taxon_embeddings
    want_h5ad = "h5ad" in formats and anndata_available()
    if "h5ad" in formats and not want_h5ad:
        log.info("anndata is not installed: %s is skipped (pip install 'microbiome-lm[embed]')", H5AD_FILE)
    out = Path(args.out_dir)
    with contextlib.ExitStack() as stack:  # every output renamed into place only if all succeed
        collected = _stream(stack, out, table, on_vocab, embedder, names, formats, keep_taxa,
                            ecfg["batch_size"], want_h5ad, args.no_progress)
        for name, frame in ((COVERAGE_FILE, coverage), (MAPPING_FILE, mapping)):
            frame.to_csv(stack.enter_context(atomic_path(out / name, suffix=".tsv")), sep="\t",
                         index=False, float_format="%.6g")
        if want_h5ad:
            predictions = pd.concat(collected["predictions"]) if collected["predictions"] else None
            _write_h5ad(stack.enter_context(atomic_path(out / H5AD_FILE, suffix=".h5ad")), coverage,
                        pd.concat(collected["embeddings"]), predictions)
    status = coverage["status"].value_counts().to_dict()
    log.info("embedded %d samples (coverage status %s) into %s", table.n_samples, status, out)
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("embed", help="embed your own samples (BIOM, QIIME 2 .qza, TSV/CSV) and predict p(IBD)",
                              description=__doc__.splitlines()[0])
    add_config_arguments(p)  # uses the keys embed, encoding, model, threads, device
    p.add_argument("--table", default=None, help="feature table (.biom JSON/HDF5, .qza, .tsv, .csv); "
                                                 "default: config key embed.table")
    p.add_argument("--sequences", default=None,
                   help="representative sequences (FASTA or .qza) when feature ids are not sequences; "
                        "default: config key embed.sequences when --table is not given")
    p.add_argument("--vocab-fasta", required=True, help="vocabulary sequences (seqs_.07_embed.fasta)")
    p.add_argument("--vocab-embeddings", default=None,
                   help="vocab_embeddings.npy, for checkpoints without a token table (the published ones)")
    p.add_argument("--checkpoint", required=True, help="pretrained discriminator folder (ours or published)")
    p.add_argument("--ensemble", nargs="*", default=None, help="finetuned member folders for p(IBD)")
    p.add_argument("--out-dir", required=True, type=Path, help="receives the output files")
    p.add_argument("--taxon-embeddings", action="store_true",
                   help="also write per-taxon contextual embeddings (config key embed.taxon_embeddings)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None, help="override config key 'device'")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_embed)
