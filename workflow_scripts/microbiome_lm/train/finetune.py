"""``finetune``: train one classifier per split file, or an ensemble, in one process (reference 8).

    microbiome-lm finetune --config-json JSON --pretrained DIR [--vocab-embeddings NPY]
        --data ARRAY_512.npy --labels LABELS.npy
        ( --run NAME=SPLIT_TSV ... --train-parts train[,val] --eval-parts val,test
        | --members N [--eval-parts train] )
        [--eval-set NAME=ARRAY.npy:LABELS.npy ...] [--save-checkpoints] --out-dir DIR

Run k (the k-th ``--run``, or ``member<k>``) uses seed ``config seed + k``; its random
streams (head init, sampler, token dropout) derive from that seed, so training runs together
or one at a time gives each the same init and the same batches.

Writes into DIR, atomically (a failure leaves no DIR): ``scores.tsv`` (run, epoch, split,
row, label, score = p(class 1)) for every model, epoch and scored row; ``train_log.tsv``
(run, epoch, train_loss, seconds: the epoch's wall time, shared by the runs trained
together); with ``--save-checkpoints``, ``DIR/<run>/``, the final epoch as a checkpoint
directory (:func:`model.checkpoint.save_checkpoint`, trained CLS row in its token table).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd
import torch

from ..config import add_config_arguments, config_from_args
from ..core.arrays import load_coordinate_array
from ..core.atomic import atomic_dir, atomic_path
from ..core.errors import InputError
from ..core.seeding import seed_everything
from ..model.checkpoint import save_checkpoint
from ..model.classifier import MemberStack, build_member, finetune_start
from ..model.encoding import encode_samples
from .batching import Padding, derive_seed
from .device import resolve_device
from .finetune_data import binary_labels, eval_sets, member_runs, split_runs
from .finetune_loop import STREAMS, LockstepTrainer, Member, Settings
from .optim import make_optimizer, warmup_schedule
from .provenance import input_checksums, library_versions

log = logging.getLogger(__name__)

SCORES_FILE = "scores.tsv"
TRAIN_LOG_FILE = "train_log.tsv"
SCORE_COLUMNS = ("run", "epoch", "split", "row", "label", "score")
LOG_COLUMNS = ("run", "epoch", "train_loss", "seconds")
# Process-wide torch stream (HF dropout), distinct from every member stream.
GLOBAL_STREAM = 99


def settings(ft: dict, device: torch.device, progress: bool) -> Settings:
    return Settings(epochs=ft["epochs"], batch_size=ft["batch_size"], eval_batch_size=ft["eval_batch_size"],
                    loss=ft["loss"], balanced=ft["balanced_sampling"], token_dropout=ft["token_dropout"],
                    token_dropout_eval=ft["token_dropout_eval"], device=device,
                    padding=Padding(dynamic=ft["dynamic_padding"]), progress=progress,
                    members_per_pass=members_per_pass(ft["members_per_pass"], device))


def members_per_pass(setting: str | int, device: torch.device) -> int | None:
    """Config ``finetune.members_per_pass`` as the loop takes it (None = all in one pass).

    ``auto``: all on CUDA, where one wide pass keeps the GPU busy; 1 on a CPU, where wider
    passes are slower at the paper's sizes and cost ~3.4 GB per extra model."""
    if setting == "all" or (setting == "auto" and device.type == "cuda"):
        return None
    return 1 if setting == "auto" else int(setting)


def finetune(args: argparse.Namespace) -> Path:
    """Check every input, train all runs together, write the outputs (see module docstring)."""
    import transformers

    transformers.utils.logging.disable_progress_bar()
    cfg = config_from_args(args)
    ft, max_taxa = cfg["finetune"], cfg["encoding"]["max_taxa"]
    torch.set_num_threads(cfg["threads"])
    device = resolve_device(args.device or cfg["device"])
    if args.out_dir.exists() and not args.out_dir.is_dir():
        raise InputError(args.out_dir, "exists and is not a folder")
    encoder_state, hf_config, table, cls_row = finetune_start(args.pretrained, args.vocab_embeddings, cfg["model"],
                                                              max_taxa)
    array = load_coordinate_array(args.data, vocab_size=table.n_vocab)
    samples = encode_samples(array, table, max_taxa)
    labels = binary_labels(args.labels, array.shape[0])
    if args.members is not None:
        specs = member_runs(args.members, args.eval_parts or "", samples, labels, args.labels)
    else:
        specs = split_runs(args.run, args.train_parts, args.eval_parts or "val,test", samples, labels)
    cohorts = eval_sets(args.eval_set, table, max_taxa)
    for spec in specs:
        spec.scored.extend(cohorts)

    seed_everything(derive_seed(cfg["seed"], GLOBAL_STREAM))
    members = [Member.create(spec, cfg["seed"] + spec.index) for spec in specs]
    models = [build_member(encoder_state, hf_config, table, cls_row, derive_seed(m.seed, STREAMS["init"]),
                           ft["table_rows"], ft["frozen_encoder_layers"]) for m in members]
    stack = MemberStack(models).to(device)
    params = [p for p in stack.parameters() if p.requires_grad]
    optimizer = make_optimizer(params, ft)
    scheduler = warmup_schedule(optimizer, ft["warmup_steps"]) if ft["warmup_steps"] else None
    log.info("finetuning %d model(s) together on %s: %d trainable parameters each", len(members), device,
             sum(p.numel() for p in models[0].parameters() if p.requires_grad))
    trainer = LockstepTrainer(stack, members, labels, settings(ft, device, not args.no_progress), optimizer,
                              table.pad_id, scheduler)

    inputs = {"pretrained": args.pretrained, "data": args.data, "labels": args.labels}
    meta = {"stage": "finetune", "library_versions": library_versions(), "data_sha256": input_checksums(inputs),
            "inputs": {k: str(v) for k, v in inputs.items()},
            "config": {k: cfg[k] for k in ("seed", "encoding", "model", "finetune")}, "device": str(device)}
    with atomic_dir(args.out_dir) as tmp:
        trainer.run(samples)
        _write_tsv(tmp / SCORES_FILE, pd.concat([pd.DataFrame(r) for r in trainer.score_rows], ignore_index=True)
                   if trainer.score_rows else pd.DataFrame(columns=SCORE_COLUMNS), SCORE_COLUMNS)
        _write_tsv(tmp / TRAIN_LOG_FILE, pd.DataFrame(trainer.log_rows), LOG_COLUMNS)
        if args.save_checkpoints:
            for m, model in zip(members, models):
                save_checkpoint(tmp / m.spec.name, model.cpu(), {**meta, "run": m.spec.name, "seed": m.seed,
                                                                 "epoch": ft["epochs"] - 1})
    return args.out_dir


def _write_tsv(path: Path, table: pd.DataFrame, columns: tuple[str, ...]) -> None:
    with atomic_path(path) as tmp:
        table.loc[:, list(columns)].to_csv(tmp, sep="\t", index=False, float_format="%.7g")


def _main(args: argparse.Namespace) -> int:
    finetune(args)
    return 0


def register(subparsers) -> None:
    help_text = "finetune classifiers from a pretrained discriminator, all runs in one process (reference 8)"
    p = subparsers.add_parser("finetune", help=help_text, description=__doc__.split("\n\n")[0])
    add_config_arguments(p)  # uses seed, device, threads, encoding, model, finetune
    p.add_argument("--pretrained", required=True, type=Path, help="pretrained discriminator checkpoint folder")
    p.add_argument("--vocab-embeddings", default=None,
                   help="vocab_embeddings.npy, needed when the checkpoint has no token table (published ones)")
    p.add_argument("--data", required=True, type=Path, help="coordinate-list samples (.npy) the runs train on")
    p.add_argument("--labels", required=True, type=Path, help="(n, 1) 0/1 labels of --data")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--run", action="append", default=[], metavar="NAME=SPLIT_TSV",
                       help="one model per split file (columns row, split); repeatable")
    which.add_argument("--members", type=int, metavar="N", help="N models on every row of --data (an ensemble)")
    p.add_argument("--train-parts", default="train", help="split parts a --run model trains on (default train)")
    p.add_argument("--eval-parts", default=None,
                   help="split parts scored every epoch (default val,test; with --members only train, default none)")
    p.add_argument("--eval-set", action="append", default=[], metavar="NAME=ARRAY.npy:LABELS.npy",
                   help="external cohort every model scores every epoch; repeatable")
    p.add_argument("--save-checkpoints", action="store_true", help="write each run's final model to OUT_DIR/<run>/")
    p.add_argument("--out-dir", required=True, type=Path, help="output folder (replaced atomically)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None, help="override config key 'device'")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_main)
