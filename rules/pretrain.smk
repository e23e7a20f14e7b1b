"""ELECTRA pretraining (reference 5, 6): the generator series, then the discriminator against it.

With pretrain.pretrained = published both stages are skipped: pretrained_discriminator()
points at the Dryad checkpoint extracted from pretrainedmodels.zip instead. Both jobs resume
from <stage>/resume/ when rerun after a SIGTERM (e.g. a SLURM time limit).
"""

from microbiome_lm.train.schedule import (
    discriminator_checkpoints,
    generator_checkpoints,
)

PRETRAIN = config["pretrain"]
PRETRAIN_DIR = f"{OUT}/pretrain"
GENERATOR_CHECKPOINTS = [
    f"{PRETRAIN_DIR}/generator/{name}"
    for name in generator_checkpoints(PRETRAIN["generator"]["checkpoint_epochs"])
]
DISCRIMINATOR_CHECKPOINTS = [
    f"{PRETRAIN_DIR}/discriminator/{name}"
    for name in discriminator_checkpoints(
        len(GENERATOR_CHECKPOINTS),
        PRETRAIN["discriminator"]["epochs_per_generator"],
        PRETRAIN["discriminator"]["checkpoint_every"],
    )
]
PRETRAIN_CONFIG = config_json(
    "seed", "device", "threads", "vocab", "encoding", "model", "pretrain"
)
PRETRAIN_INPUTS = {
    "train": microbiomedata(config["pretraining_data"]["train"]),
    "test": microbiomedata(config["pretraining_data"]["test"]),
    "vocab": raw("dryad", "vocab_embeddings.npy"),
}
# GPUs per pretraining job: cluster.pretrain_gpus DDP ranks under torchrun (docs/cluster.md).
PRETRAIN_RANKS = config["cluster"]["pretrain_gpus"]
DECLARES_GPU = {
    "auto": config["device"] != "cpu",
    "always": True,
    "never": False,
}[config["cluster"]["gpu_resources"]]
USES_GPU = PRETRAIN_RANKS if DECLARES_GPU else 0
# Snakemake caps a job's resources at --resources (profiles/default: gpu=1), on SLURM too.
GPU_LIMIT = workflow.global_resources.get("gpu").value
if GPU_LIMIT is not None and USES_GPU > GPU_LIMIT:
    raise ValueError(
        f"config key 'cluster.pretrain_gpus' is {PRETRAIN_RANKS} but --resources allows "
        f"gpu={GPU_LIMIT} (profiles/default): add --resources gpu={USES_GPU}"
    )
PRETRAIN_LAUNCH = (
    "python -m microbiome_lm"
    if PRETRAIN_RANKS == 1
    else f"torchrun --standalone --nproc-per-node {PRETRAIN_RANKS} -m microbiome_lm"
)
# Host memory grows with the sequence length (batches, activations on CPU): ~8 GB at 513.
PRETRAIN_MEM_MB = 2000 + 12 * config["encoding"]["max_taxa"]

PUBLISHED = PRETRAIN["pretrained"] == "published"
if PUBLISHED and PRETRAIN["published_checkpoint"] not in layout.PRETRAINED_CHECKPOINTS:
    raise ValueError(
        f"config key 'pretrain.published_checkpoint': {PRETRAIN['published_checkpoint']!r} "
        f"is not one of {', '.join(layout.PRETRAINED_CHECKPOINTS)}"
    )
PRETRAINED_DISCRIMINATOR = (
    f"{OUT}/data/pretrainedmodels/{PRETRAIN['published_checkpoint']}"
    if PUBLISHED
    else DISCRIMINATOR_CHECKPOINTS[-1]
)
# Finetuning starts from pretrained_discriminator() (a folder) and lists
# pretrained_discriminator_files() as input (the published folder is extracted file by file).
pretrained_discriminator = lambda: PRETRAINED_DISCRIMINATOR
pretrained_discriminator_files = lambda: (
    [f"{PRETRAINED_DISCRIMINATOR}/{name}" for name in layout.CHECKPOINT_FILES]
    if PUBLISHED
    else [PRETRAINED_DISCRIMINATOR]
)


rule pretrain_generator:
    input:
        **PRETRAIN_INPUTS,
    output:
        checkpoints=[directory(path) for path in GENERATOR_CHECKPOINTS],
        metrics=report(
            f"{PRETRAIN_DIR}/generator/metrics.tsv",
            caption="../report/pretrain_generator_metrics.rst",
            category="Pretraining (reference 5, 6)",
            subcategory="Generator",
        ),
    log:
        f"{LOGS}/pretrain/generator.log",
    benchmark:
        f"{BENCH}/pretrain_generator.tsv"
    conda:
        "../envs/python.yaml"
    threads: config["threads"]
    resources:
        gpu=USES_GPU,
        mem_mb=PRETRAIN_MEM_MB,
        runtime=10 + 2 * PRETRAIN["generator"]["epochs"],
    params:
        config=PRETRAIN_CONFIG,
        launch=PRETRAIN_LAUNCH,
        out=lambda w, output: Path(output.metrics).parent,
    shell:
        "{params.launch} pretrain-generator --config-json {params.config:q}"
        " --train {input.train} --test {input.test} --vocab-embeddings {input.vocab}"
        " --out-dir {params.out} > {log} 2>&1"


rule pretrain_discriminator:
    input:
        **PRETRAIN_INPUTS,
        generators=GENERATOR_CHECKPOINTS,
    output:
        checkpoints=[directory(path) for path in DISCRIMINATOR_CHECKPOINTS],
        metrics=report(
            f"{PRETRAIN_DIR}/discriminator/metrics.tsv",
            caption="../report/pretrain_discriminator_metrics.rst",
            category="Pretraining (reference 5, 6)",
            subcategory="Discriminator",
        ),
    log:
        f"{LOGS}/pretrain/discriminator.log",
    benchmark:
        f"{BENCH}/pretrain_discriminator.tsv"
    conda:
        "../envs/python.yaml"
    threads: config["threads"]
    resources:
        gpu=USES_GPU,
        mem_mb=PRETRAIN_MEM_MB,
        runtime=10
        + 2
        * len(GENERATOR_CHECKPOINTS)
        * PRETRAIN["discriminator"]["epochs_per_generator"],
    params:
        config=PRETRAIN_CONFIG,
        launch=PRETRAIN_LAUNCH,
        out=lambda w, output: Path(output.metrics).parent,
    shell:
        "{params.launch} pretrain-discriminator --config-json {params.config:q}"
        " --train {input.train} --test {input.test} --vocab-embeddings {input.vocab}"
        " --generators {input.generators} --out-dir {params.out} > {log} 2>&1"


rule pretrain:
    """The pretrained discriminator finetuning uses, with the metrics of the runs that made it."""
    input:
        pretrained_discriminator_files(),
        (
            [
                rules.pretrain_generator.output.metrics,
                rules.pretrain_discriminator.output.metrics,
            ]
            if not PUBLISHED
            else []
        ),


TARGETS.extend(rules.pretrain.input)
