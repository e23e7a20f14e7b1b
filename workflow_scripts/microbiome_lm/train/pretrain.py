"""``pretrain-generator`` and ``pretrain-discriminator``: the two ELECTRA pretraining stages.

Stage 1 (reference 5) trains the masked-LM generator and leaves a checkpoint series at the
configured epochs (paper: epoch29 ... epoch239 of 240, names are 0-based epoch indices).
Stage 2 (reference 6) trains the discriminator against that series in order,
``epochs_per_generator`` epochs each, with the input table frozen; checkpoints are named by
epochs completed (paper: epoch15 ... epoch120). The published ``epoch0`` folder, an
overwritten duplicate (reference 13 #5), is not reproduced.

Both commands take explicit paths, so they run without Snakemake, and both resume after a
SIGTERM (exit status 143) when rerun with the same arguments. Started by
``torchrun --nproc-per-node N -m microbiome_lm ...`` they train data-parallel (distributed.py).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
from pathlib import Path

import torch

from ..config import add_config_arguments, config_from_args
from ..core.arrays import load_coordinate_array
from ..core.errors import ConfigError, InputError
from ..core.seeding import seed_everything
from ..core.tokens import build_token_table, load_vocab_embeddings
from ..model.checkpoint import load_checkpoint
from ..model.electra import Generator, build_model, electra_config
from ..model.encoding import encode_samples
from ..model.masking import MaskingProbs
from .batching import STREAMS, derive_seed, padding_for
from .device import amp_dtype, maybe_compile, maybe_fast_dropout, resolve_device
from .distributed import init_world, sum_gradients_before_step
from .loop import Runtime, Schedule, eval_batches, run_training
from .optim import make_optimizer
from .provenance import input_checksums, library_versions
from .resume import STOPPED_EXIT_CODE, StopRequested
from .schedule import discriminator_checkpoint_epochs, generator_checkpoints
from .steps import DiscriminatorTask, GeneratorTask

log = logging.getLogger(__name__)

# Config sections that determine the weights (a resume point is valid only if they are unchanged).
RESULT_SECTIONS = ("seed", "vocab", "encoding", "model")


class Setup:
    """Everything both stages share: config, device, token table, encoded data, provenance."""

    def __init__(self, args: argparse.Namespace, role: str, extra_inputs: dict[str, str] | None = None):
        import transformers

        transformers.utils.logging.disable_progress_bar()
        self.role = role
        self.cfg = cfg = config_from_args(args)
        self.stage_cfg = cfg["pretrain"][role]
        torch.set_num_threads(cfg["threads"])
        seed_everything(derive_seed(cfg["seed"], STREAMS[role]))
        self.device = resolve_device(args.device or cfg["device"])
        self.world = init_world(self.device, self.stage_cfg["batch_size"])
        if not self.world.is_main:  # one rank's log is enough
            logging.getLogger("microbiome_lm").setLevel(logging.WARNING)
        self.max_taxa = cfg["encoding"]["max_taxa"]
        self.vocab_embeddings = load_vocab_embeddings(args.vocab_embeddings)
        self._check_vocab(args.vocab_embeddings)
        model_cfg = cfg["model"]
        self.table = build_token_table(self.vocab_embeddings, model_cfg["mask_init"], model_cfg["cls_init_pretrain"])
        self.train = encode_samples(load_coordinate_array(args.train, vocab_size=self.table.n_vocab),
                                    self.table, self.max_taxa)
        test = encode_samples(load_coordinate_array(args.test, vocab_size=self.table.n_vocab), self.table,
                              self.max_taxa)
        if len(self.train) < self.stage_cfg["batch_size"] and self.stage_cfg["drop_last"]:
            raise InputError(args.train, f"{len(self.train)} samples: fewer than one batch of "
                                         f"{self.stage_cfg['batch_size']} (pretrain.{role}.drop_last is true)")
        speed = cfg["pretrain"]["speed"]
        hidden = (model_cfg["generator"] if role == "generator" else model_cfg)["hidden_size"]
        self.amp = amp_dtype(speed["amp"], self.device)
        self.padding = padding_for(speed["length_groups"], speed["dynamic_padding"], self.device, hidden, self.amp)
        self.probs = MaskingProbs.from_config(self.stage_cfg)
        inputs = {"train": args.train, "test": args.test, "vocab_embeddings": args.vocab_embeddings,
                  **(extra_inputs or {})}
        checksums = input_checksums(inputs)
        settings = {**{k: cfg[k] for k in RESULT_SECTIONS}, "pretrain": {role: self.stage_cfg}}
        self.fingerprint = hashlib.sha256(json.dumps({"role": role, "settings": settings, "inputs": checksums},
                                                     sort_keys=True).encode()).hexdigest()
        self.meta = {"stage": role, "seed": cfg["seed"], "library_versions": library_versions(),
                     "config": {**settings, "pretrain": cfg["pretrain"]}, "inputs": {k: str(v) for k, v in inputs.items()},
                     "data_sha256": checksums, "device": str(self.device), "ddp_ranks": self.world.size}
        self.runtime = Runtime(
            seed=cfg["seed"], padding=self.padding,
            eval_batches=eval_batches(test, self.table, self.probs, self.padding, cfg["seed"],
                                      cfg["pretrain"]["eval_batch_size"]),
            num_workers=cfg["pretrain"]["num_workers"],
            pin_memory=self.device.type == "cuda" and speed["pin_memory"],
            resume_every_s=60.0 * cfg["pretrain"]["resume_every_minutes"],
            progress=not args.no_progress, world=self.world)

    def _check_vocab(self, path) -> None:
        n_taxa, dim = self.cfg["vocab"]["n_taxa"], self.cfg["vocab"]["embedding_dim"]
        rows, width = self.vocab_embeddings.shape
        if n_taxa is not None and rows != n_taxa:
            raise InputError(path, f"{rows} vocabulary rows, config vocab.n_taxa is {n_taxa}")
        if dim is not None and width != dim:
            raise InputError(path, f"embedding width {width}, config vocab.embedding_dim is {dim}")

    def build(self, train_embeddings: bool):
        config = electra_config(self.cfg["model"], self.role, self.table, self.max_taxa)
        model = build_model(self.role, config, self.table, train_embeddings).to(self.device)
        maybe_compile(model, self.cfg["pretrain"]["speed"]["compile"], self.device)
        maybe_fast_dropout(model, self.cfg["pretrain"]["speed"]["fast_dropout"], self.device)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = make_optimizer(params, self.stage_cfg)
        sum_gradients_before_step(optimizer, self.world)
        return model, optimizer

    def schedule(self, epochs: int, checkpoint_name, **hooks) -> Schedule:
        s = self.stage_cfg
        return Schedule(epochs=epochs, batch_size=s["batch_size"], shuffle=s["shuffle"], drop_last=s["drop_last"],
                        probs=self.probs, checkpoint_name=checkpoint_name, **hooks)


def pretrain_generator(args: argparse.Namespace) -> list[dict]:
    """Stage 1: masked-LM generator with a checkpoint at each ``checkpoint_epochs`` entry."""
    setup = Setup(args, "generator")
    s = setup.stage_cfg
    bad = [e for e in s["checkpoint_epochs"] if not 0 <= e < s["epochs"]]
    if bad:
        raise ConfigError("configuration", f"config key 'pretrain.generator.checkpoint_epochs': {bad} "
                                           f"outside 0..{s['epochs'] - 1}")
    model, optimizer = setup.build(train_embeddings=s["train_embeddings"])
    task = GeneratorTask(model, optimizer, setup.device, setup.amp, setup.cfg["pretrain"]["speed"]["masked_only_lm_head"])
    names = dict(zip(s["checkpoint_epochs"], generator_checkpoints(s["checkpoint_epochs"])))
    schedule = setup.schedule(s["epochs"], names.get)
    try:
        return run_training(task, setup.train, setup.table, schedule, setup.runtime, args.out_dir,
                            setup.fingerprint, setup.meta)
    finally:
        setup.world.close()


def pretrain_discriminator(args: argparse.Namespace) -> list[dict]:
    """Stage 2: replaced-token detection against the generator series, in the given order."""
    generators = [Path(g) for g in args.generators]
    setup = Setup(args, "discriminator", {f"generator_{i}": g for i, g in enumerate(generators)})
    s = setup.stage_cfg
    model, optimizer = setup.build(train_embeddings=not s["freeze_embeddings"])
    speed = setup.cfg["pretrain"]["speed"]
    task = DiscriminatorTask(model, optimizer, setup.device, setup.amp, speed["masked_only_lm_head"], s["replacement"])
    per = s["epochs_per_generator"]
    wanted = set(discriminator_checkpoint_epochs(len(generators), per, s["checkpoint_every"]))
    current: dict[str, int] = {}

    def before_epoch(epoch: int) -> None:
        index = epoch // per
        if current.get("index") != index:
            task.set_generator(_load_generator(generators[index], setup))
            current["index"] = index

    schedule = setup.schedule(len(generators) * per, lambda e: f"epoch{e + 1}" if e + 1 in wanted else None,
                              before_epoch=before_epoch,
                              epoch_info=lambda e: {"generator": generators[e // per].name})
    try:
        return run_training(task, setup.train, setup.table, schedule, setup.runtime, args.out_dir,
                            setup.fingerprint, setup.meta)
    finally:
        setup.world.close()


def _load_generator(directory: Path, setup: Setup) -> Generator:
    model_cfg = setup.cfg["model"]
    ckpt = load_checkpoint(directory, vocab_embeddings=setup.vocab_embeddings, mask_init=model_cfg["mask_init"],
                           cls_init=model_cfg["cls_init_pretrain"],
                           attn_implementation=model_cfg["attn_implementation"], device=setup.device)
    if not isinstance(ckpt.model, Generator):
        raise InputError(directory, f"expected a generator (ElectraForMaskedLM), found {ckpt.architecture}")
    if ckpt.table.n_vocab != setup.table.n_vocab:
        raise InputError(directory, f"generator vocabulary has {ckpt.table.n_vocab} taxa, the data {setup.table.n_vocab}")
    if ckpt.model.hf.config.max_position_embeddings < setup.max_taxa + 1:
        raise InputError(directory, f"generator handles {ckpt.model.hf.config.max_position_embeddings} positions, "
                                    f"encoding.max_taxa + 1 is {setup.max_taxa + 1}")
    log.info("discriminator now trains against %s", directory)
    return ckpt.model


def _command(stage):
    def run(args: argparse.Namespace) -> int:
        try:
            stage(args)
        except StopRequested as stop:
            log.warning("%s; rerun the same command to continue", stop)
            return STOPPED_EXIT_CODE
        return 0

    return run


def register(subparsers) -> None:
    commands = {
        "pretrain-generator": (pretrain_generator, "stage 1: train the masked-LM generator series (reference 5)"),
        "pretrain-discriminator": (pretrain_discriminator,
                                   "stage 2: train the discriminator against a generator series (reference 6)"),
    }
    for name, (stage, help_text) in commands.items():
        p = subparsers.add_parser(name, help=help_text, description=help_text)
        add_config_arguments(p)
        p.add_argument("--train", required=True, help="pretraining samples (coordinate-list .npy)")
        p.add_argument("--test", required=True, help="held-out samples for the per-epoch metrics (.npy)")
        p.add_argument("--vocab-embeddings", required=True, help="vocab_embeddings.npy (n_taxa x dim)")
        p.add_argument("--out-dir", required=True, type=Path,
                       help="receives epoch<N>/ checkpoints, metrics.tsv and (while running) resume/")
        if name == "pretrain-discriminator":
            p.add_argument("--generators", nargs="+", required=True,
                           help="generator checkpoint folders, in training order")
        p.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None,
                       help="override config key 'device'")
        p.add_argument("--no-progress", action="store_true", help="no progress bar")
        p.set_defaults(func=_command(stage))
