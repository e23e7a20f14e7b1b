"""Baselines on the finetuning splits, the protocols' epoch choices, metric tables and figures.

The baselines (reference 9) score the same split files and cohorts as rules/finetune.smk and
write the same scores format; `select_scores` applies each protocol's epoch choice and the
ensemble average (reference 8.4), `table_metrics` adds bootstrap intervals, and the figures
are drawn from those tables only.
"""

BASELINES = EVAL["baselines"]
# Baselines with a score per epoch need protocol A's phase 1 to pick the epoch; the others
# are fitted once, so their phase 1 would be unused.
EPOCH_METHODS = [m for m in BASELINES["methods"] if m == "static_head"]
EVAL_DIR = f"{OUT}/evaluate"
BASELINE_DIR = f"{EVAL_DIR}/baselines"
BASELINE_CONFIG = evaluation_json(
    "baselines", seed=config["seed"], device=config["device"], threads=config["threads"]
)
BASELINE_INPUTS = {
    "vocab": raw("dryad", "vocab_embeddings.npy"),
    "unlabelled": microbiomedata(EVAL["unlabelled_samples"]),
}
BASELINE_RUNTIME = 30 + len(BASELINES["methods"]) * len(SEEDS) * 10
# Dense relative-abundance tables of the unlabelled pool: ~18k x 26k float32 on the paper's data.
BASELINE_MEM_MB = 16000
BASELINE_EVAL_SETS = " ".join(
    f"--eval-set {name}={cohort_file(name, 'full')}:{cohort_file(name, 'samples')}:{cohort_file(name, 'labels')}"
    for name in config["cohorts"]
)


# Phase 1 of protocol A trains only the per-epoch methods.
baseline_methods = lambda w: ",".join(
    EPOCH_METHODS if w.phase == "1" else BASELINES["methods"]
)


rule baseline_in_distribution:
    """Protocol A baselines of one task and phase, every seed (phase 1: only per-epoch methods)."""
    input:
        **BASELINE_INPUTS,
        data=lambda w: task_file(w.task, "full"),
        data_512=lambda w: task_file(w.task, "samples"),
        labels=lambda w: task_file(w.task, "labels"),
        splits=lambda w: [split_file("A", w.task, seed) for seed in SEEDS],
    output:
        f"{BASELINE_DIR}/A/{{task}}/phase{{phase}}/scores.tsv",
    log:
        f"{LOGS}/baselines/A_{{task}}_phase{{phase}}.log",
    benchmark:
        f"{BENCH}/baselines/A_{{task}}_phase{{phase}}.tsv"
    conda:
        "../envs/python.yaml"
    threads: config["threads"]
    resources:
        mem_mb=BASELINE_MEM_MB,
        runtime=BASELINE_RUNTIME,
    params:
        config=BASELINE_CONFIG,
        methods=baseline_methods,
        runs=lambda w, input: run_flags(input.splits),
        train_parts=lambda w: PHASE_PARTS[w.phase][0],
        eval_parts=lambda w: PHASE_PARTS[w.phase][1],
    shell:
        "python -m microbiome_lm baseline --config-json {params.config:q} --methods {params.methods}"
        " --data {input.data} --data-512 {input.data_512} --labels {input.labels}"
        " --vocab-embeddings {input.vocab} --unlabelled {input.unlabelled} {params.runs}"
        " --train-parts {params.train_parts} --eval-parts {params.eval_parts} --out {output} > {log} 2>&1"


rule baseline_cross_gen:
    """Protocol B baselines: every seed trained on IBD minus its validation rows, scored on the cohorts."""
    input:
        **BASELINE_INPUTS,
        data=task_file(OOD_TASK, "full"),
        data_512=task_file(OOD_TASK, "samples"),
        labels=task_file(OOD_TASK, "labels"),
        splits=[split_file("B", "IBD", seed) for seed in SEEDS],
        cohorts=[
            cohort_file(c, k)
            for c in config["cohorts"]
            for k in ("full", "samples", "labels")
        ],
    output:
        f"{BASELINE_DIR}/B/IBD/scores.tsv",
    log:
        f"{LOGS}/baselines/B_IBD.log",
    benchmark:
        f"{BENCH}/baselines/B_IBD.tsv"
    conda:
        "../envs/python.yaml"
    threads: config["threads"]
    resources:
        mem_mb=BASELINE_MEM_MB,
        runtime=BASELINE_RUNTIME,
    params:
        config=BASELINE_CONFIG,
        methods=",".join(BASELINES["methods"]),
        runs=lambda w, input: run_flags(input.splits),
        eval_sets=BASELINE_EVAL_SETS,
    shell:
        "python -m microbiome_lm baseline --config-json {params.config:q} --methods {params.methods}"
        " --data {input.data} --data-512 {input.data_512} --labels {input.labels}"
        " --vocab-embeddings {input.vocab} --unlabelled {input.unlabelled} {params.runs}"
        " --train-parts train --eval-parts val {params.eval_sets} --out {output} > {log} 2>&1"


# Baseline scores by select-scores key; phase 1 only when a method has epochs to pick from.
BASELINE_SCORES = {
    **{
        f"A/{task}/{phase}": f"{BASELINE_DIR}/A/{task}/phase{phase}/scores.tsv"
        for task in ID_TASKS
        for phase in PHASE_PARTS
        if phase == "2" or EPOCH_METHODS
    },
    f"B/{OOD_TASK}": rules.baseline_cross_gen.output[0],
}
SCORE_FILES = [
    (key, path)
    for scores in (FINETUNE_SCORES, BASELINE_SCORES if BASELINES["methods"] else {})
    for key, path in scores.items()
]


rule select_scores:
    """Each protocol's reported predictions (epoch picked on validation, ensemble averaged)."""
    input:
        [path for _, path in SCORE_FILES],
    output:
        predictions=f"{EVAL_DIR}/predictions.tsv",
        curve=report(
            f"{EVAL_DIR}/ensemble_curve.tsv",
            caption="../report/evaluation_ensemble_curve_table.rst",
            category="Classification (reference 8.4)",
            subcategory="Tables",
        ),
    log:
        f"{LOGS}/evaluate/select_scores.log",
    benchmark:
        f"{BENCH}/evaluate/select_scores.tsv"
    conda:
        "../envs/python.yaml"
    params:
        config=evaluation_json("metrics", "select_metric"),
        scores=" ".join(f"--scores {key}={path}" for key, path in SCORE_FILES),
    shell:
        "python -m microbiome_lm select-scores --config-json {params.config:q} {params.scores}"
        " --predictions {output.predictions} --curve {output.curve} > {log} 2>&1"


rule table_metrics:
    """Per-seed metrics with bootstrap intervals, and their mean and sd over seeds."""
    input:
        rules.select_scores.output.predictions,
    output:
        metrics=report(
            f"{EVAL_DIR}/metrics.tsv",
            caption="../report/evaluation_metrics.rst",
            category="Classification (reference 8.4)",
            subcategory="Tables",
        ),
        summary=report(
            f"{EVAL_DIR}/summary.tsv",
            caption="../report/evaluation_summary.rst",
            category="Classification (reference 8.4)",
            subcategory="Tables",
        ),
    log:
        f"{LOGS}/evaluate/table_metrics.log",
    benchmark:
        f"{BENCH}/evaluate/table_metrics.tsv"
    conda:
        "../envs/python.yaml"
    params:
        config=evaluation_json("metrics", "bootstrap"),
    shell:
        "python -m microbiome_lm metric-tables --config-json {params.config:q} --predictions {input}"
        " --metrics {output.metrics} --summary {output.summary} > {log} 2>&1"


rule figure_roc:
    input:
        rules.select_scores.output.predictions,
    output:
        report(
            f"{EVAL_DIR}/figures/roc.png",
            caption="../report/evaluation_roc.rst",
            category="Classification (reference 8.4)",
            subcategory="ROC curves",
        ),
    log:
        f"{LOGS}/evaluate/figure_roc.log",
    conda:
        "../envs/python.yaml"
    shell:
        "python -m microbiome_lm figure --kind roc --table {input} --out {output} > {log} 2>&1"


rule figure_metric_bars:
    input:
        rules.table_metrics.output.summary,
    output:
        report(
            f"{EVAL_DIR}/figures/bars_{{metric}}.png",
            caption="../report/evaluation_bars.rst",
            category="Classification (reference 8.4)",
            subcategory="Metrics with intervals",
        ),
    log:
        f"{LOGS}/evaluate/figure_bars_{{metric}}.log",
    wildcard_constraints:
        metric="|".join(EVAL["metrics"]),
    conda:
        "../envs/python.yaml"
    shell:
        "python -m microbiome_lm figure --kind bars --metric {wildcards.metric} --table {input}"
        " --out {output} > {log} 2>&1"


rule figure_ensemble_curve:
    input:
        rules.select_scores.output.curve,
    output:
        report(
            f"{EVAL_DIR}/figures/ensemble_curve.png",
            caption="../report/evaluation_ensemble_curve.rst",
            category="Classification (reference 8.4)",
            subcategory="Ensemble",
        ),
    log:
        f"{LOGS}/evaluate/figure_ensemble_curve.log",
    conda:
        "../envs/python.yaml"
    shell:
        "python -m microbiome_lm figure --kind curve --metric auroc --table {input}"
        " --out {output} > {log} 2>&1"


rule evaluation:
    """Every results table and figure of the classification experiments."""
    input:
        rules.table_metrics.output,
        rules.figure_roc.output,
        expand(rules.figure_metric_bars.output, metric=EVAL["metrics"]),
        rules.figure_ensemble_curve.output,


TARGETS.extend(rules.evaluation.input)
