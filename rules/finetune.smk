"""Finetuning under the paper's evaluation protocols (reference 8.4), from the pretrained discriminator.

A: per in-distribution task, host-blocked 70/10/20 splits (one per seed); phase 1 trains on
train and scores val + test, phase 2 retrains on train + val and scores test. B: IBD minus a
random 10 % validation set per seed, scored on the external cohorts. C: an ensemble on every
IBD row, scored on the external cohorts, its members saved for attribution and embedding.
Every job trains all its models (seeds or members) together in one process.
"""

import os
import re

EVAL = config["evaluation"]
SEEDS = EVAL["seeds"]
ID_TASKS = EVAL["in_distribution_tasks"] or list(config["tasks"])
OOD_TASK = (
    "ibd"  # protocols B and C: AGP IBD against the IBD cohorts (reference 8.4 B, C)
)
for _task in [*ID_TASKS, OOD_TASK]:
    if _task not in config["tasks"]:
        raise ValueError(
            f"config key 'evaluation.in_distribution_tasks' / protocols B, C: task {_task!r} "
            f"is not a key of 'tasks' ({', '.join(config['tasks'])})"
        )
SPLIT_DIR = f"{OUT}/splits"
FINETUNE_DIR = f"{OUT}/finetune"
FINETUNE_CONFIG = config_json(
    "seed", "device", "threads", "vocab", "encoding", "model", "finetune"
)
FINETUNE_GPU = 1 if DECLARES_GPU else 0
FINETUNE_MEM_MB = 3000 + 12 * config["encoding"]["max_taxa"]
FINETUNE_RUNTIME = 20 + 2 * FINETUNE["epochs"]
PHASE_PARTS = {"1": ("train", "val,test"), "2": ("train,val", "test")}
# The members' folders are defined once, in rules/finetune_models.smk (the downstream contract).
ENSEMBLE_MEMBERS = protocol_c_member_dirs()
ENSEMBLE_DIR = str(Path(ENSEMBLE_MEMBERS[0]).parent)


# Path helpers (lambdas: the linter wants functions in common.smk, which is shared).
# A task's array or labels (kind: samples, full, labels) in the extracted microbiomedata/:
task_file = lambda task, kind: microbiomedata(config["tasks"][task][kind])
cohort_file = lambda name, kind: microbiomedata(config["cohorts"][name][kind])
split_file = (
    lambda protocol, task, seed: f"{SPLIT_DIR}/{protocol}/{task}/seed{seed}.tsv"
)
# --run SEED=SPLIT_TSV for every seed: runs are named by their data_split_seed.
run_flags = lambda splits: " ".join(
    f"--run {seed}={path}" for seed, path in zip(SEEDS, splits)
)
# Only the evaluation keys a rule reads, so that changing one (say a baseline) reruns no split.
evaluation_json = lambda *keys, **sections: json.dumps(
    {"evaluation": {k: EVAL[k] for k in keys}, **sections}, sort_keys=True
)
# The pretrained folder: the common parent of the published files, or the folder itself.
pretrained_folder = lambda w, input: os.path.commonpath(input.pretrained)


COHORT_SAMPLES = [cohort_file(c, "samples") for c in config["cohorts"]]
COHORT_LABELS = [cohort_file(c, "labels") for c in config["cohorts"]]
FINETUNE_EVAL_SETS = " ".join(
    f"--eval-set {name}={cohort_file(name, 'samples')}:{cohort_file(name, 'labels')}"
    for name in config["cohorts"]
)


wildcard_constraints:
    task="|".join(map(re.escape, config["tasks"])),
    phase="[12]",
    seed="[0-9]+",


rule split_host_blocked:
    input:
        labels=lambda w: task_file(w.task, "labels"),
        hosts=lambda w: host_pickle(config["tasks"][w.task]["host_key"]),
    output:
        f"{SPLIT_DIR}/A/{{task}}/seed{{seed}}.tsv",
    log:
        f"{LOGS}/splits/A_{{task}}_seed{{seed}}.log",
    benchmark:
        f"{BENCH}/splits/A_{{task}}_seed{{seed}}.tsv"
    conda:
        "../envs/python.yaml"
    params:
        config=evaluation_json("host_split", "cross_gen"),
    shell:
        "python -m microbiome_lm split --config-json {params.config:q} --task {wildcards.task}"
        " --labels {input.labels} --hosts {input.hosts} --protocol host_blocked"
        " --seed {wildcards.seed} --out {output} > {log} 2>&1"


rule split_cross_gen:
    input:
        labels=task_file(OOD_TASK, "labels"),
        hosts=host_pickle(config["tasks"][OOD_TASK]["host_key"]),
    output:
        f"{SPLIT_DIR}/B/IBD/seed{{seed}}.tsv",
    log:
        f"{LOGS}/splits/B_IBD_seed{{seed}}.log",
    benchmark:
        f"{BENCH}/splits/B_IBD_seed{{seed}}.tsv"
    conda:
        "../envs/python.yaml"
    params:
        config=evaluation_json("host_split", "cross_gen"),
        task=OOD_TASK,
    shell:
        "python -m microbiome_lm split --config-json {params.config:q} --task {params.task}"
        " --labels {input.labels} --hosts {input.hosts} --protocol cross_gen"
        " --seed {wildcards.seed} --out {output} > {log} 2>&1"


rule finetune_in_distribution:
    """Protocol A, one phase of one task: every seed's model in one process."""
    input:
        pretrained=pretrained_discriminator_files(),
        vocab=raw("dryad", "vocab_embeddings.npy"),
        data=lambda w: task_file(w.task, "samples"),
        labels=lambda w: task_file(w.task, "labels"),
        splits=lambda w: [split_file("A", w.task, seed) for seed in SEEDS],
    output:
        scores=f"{FINETUNE_DIR}/A/{{task}}/phase{{phase}}/scores.tsv",
        train_log=f"{FINETUNE_DIR}/A/{{task}}/phase{{phase}}/train_log.tsv",
    log:
        f"{LOGS}/finetune/A_{{task}}_phase{{phase}}.log",
    benchmark:
        f"{BENCH}/finetune/A_{{task}}_phase{{phase}}.tsv"
    conda:
        "../envs/python.yaml"
    threads: config["threads"]
    resources:
        gpu=FINETUNE_GPU,
        mem_mb=FINETUNE_MEM_MB,
        runtime=FINETUNE_RUNTIME,
    params:
        config=FINETUNE_CONFIG,
        pretrained=pretrained_folder,
        runs=lambda w, input: run_flags(input.splits),
        train_parts=lambda w: PHASE_PARTS[w.phase][0],
        eval_parts=lambda w: PHASE_PARTS[w.phase][1],
        out=lambda w, output: Path(output.scores).parent,
    shell:
        "python -m microbiome_lm finetune --config-json {params.config:q}"
        " --pretrained {params.pretrained} --vocab-embeddings {input.vocab}"
        " --data {input.data} --labels {input.labels} {params.runs}"
        " --train-parts {params.train_parts} --eval-parts {params.eval_parts}"
        " --out-dir {params.out} > {log} 2>&1"


rule finetune_cross_gen:
    """Protocol B: every seed's model (IBD minus its validation rows) in one process, scored on the cohorts."""
    input:
        pretrained=pretrained_discriminator_files(),
        vocab=raw("dryad", "vocab_embeddings.npy"),
        data=task_file(OOD_TASK, "samples"),
        labels=task_file(OOD_TASK, "labels"),
        splits=[split_file("B", "IBD", seed) for seed in SEEDS],
        cohorts=COHORT_SAMPLES + COHORT_LABELS,
    output:
        scores=f"{FINETUNE_DIR}/B/IBD/scores.tsv",
        train_log=f"{FINETUNE_DIR}/B/IBD/train_log.tsv",
    log:
        f"{LOGS}/finetune/B_IBD.log",
    benchmark:
        f"{BENCH}/finetune/B_IBD.tsv"
    conda:
        "../envs/python.yaml"
    threads: config["threads"]
    resources:
        gpu=FINETUNE_GPU,
        mem_mb=FINETUNE_MEM_MB,
        runtime=FINETUNE_RUNTIME,
    params:
        config=FINETUNE_CONFIG,
        pretrained=pretrained_folder,
        runs=lambda w, input: run_flags(input.splits),
        eval_sets=FINETUNE_EVAL_SETS,
        out=lambda w, output: Path(output.scores).parent,
    shell:
        "python -m microbiome_lm finetune --config-json {params.config:q}"
        " --pretrained {params.pretrained} --vocab-embeddings {input.vocab}"
        " --data {input.data} --labels {input.labels} {params.runs}"
        " --train-parts train --eval-parts val {params.eval_sets}"
        " --out-dir {params.out} > {log} 2>&1"


rule finetune_ensemble:
    """Protocol C: finetune.members models on every IBD row in one process, saved as checkpoints."""
    input:
        pretrained=pretrained_discriminator_files(),
        vocab=raw("dryad", "vocab_embeddings.npy"),
        data=task_file(OOD_TASK, "samples"),
        labels=task_file(OOD_TASK, "labels"),
        cohorts=COHORT_SAMPLES + COHORT_LABELS,
    output:
        scores=f"{ENSEMBLE_DIR}/scores.tsv",
        train_log=f"{ENSEMBLE_DIR}/train_log.tsv",
        members=[directory(path) for path in ENSEMBLE_MEMBERS],
    log:
        f"{LOGS}/finetune/C_IBD.log",
    benchmark:
        f"{BENCH}/finetune/C_IBD.tsv"
    conda:
        "../envs/python.yaml"
    threads: config["threads"]
    resources:
        gpu=FINETUNE_GPU,
        mem_mb=FINETUNE_MEM_MB,
        runtime=FINETUNE_RUNTIME,
    params:
        config=FINETUNE_CONFIG,
        pretrained=pretrained_folder,
        members=FINETUNE["members"],
        eval_sets=FINETUNE_EVAL_SETS,
        out=lambda w, output: Path(output.scores).parent,
    shell:
        "python -m microbiome_lm finetune --config-json {params.config:q}"
        " --pretrained {params.pretrained} --vocab-embeddings {input.vocab}"
        " --data {input.data} --labels {input.labels} --members {params.members}"
        " {params.eval_sets} --save-checkpoints --out-dir {params.out} > {log} 2>&1"


# Scores of every protocol, by the key `select-scores` reads (A/TASK/PHASE, B/TASK, C/TASK).
FINETUNE_SCORES = {
    **{
        f"A/{task}/{phase}": f"{FINETUNE_DIR}/A/{task}/phase{phase}/scores.tsv"
        for task in ID_TASKS
        for phase in PHASE_PARTS
    },
    f"B/{OOD_TASK}": rules.finetune_cross_gen.output.scores,
    f"C/{OOD_TASK}": rules.finetune_ensemble.output.scores,
}


rule finetune:
    """Every protocol's finetuning scores."""
    input:
        list(FINETUNE_SCORES.values()),
