"""Dry runs: one finetune job per (task, phase) for protocol A, one for B, one for C; baselines, tables, figures."""

from __future__ import annotations

import pytest

from microbiome_lm.config import load_config

from .conftest import REPO
from .test_workflow_dryrun import job_counts


@pytest.mark.parametrize("configfile", ["config/config.yaml", "config/toy.yaml"])
def test_finetune_and_evaluation_jobs(configfile, tmp_path):
    config = load_config(REPO / configfile)
    evaluation = config["evaluation"]
    tasks = evaluation["in_distribution_tasks"] or list(config["tasks"])
    seeds = evaluation["seeds"]
    counts = job_counts(tmp_path, "--configfile", configfile)
    # seeds and members are trained together: the job count does not grow with them
    assert counts["finetune_in_distribution"] == 2 * len(tasks)
    assert counts["finetune_cross_gen"] == 1
    assert counts["finetune_ensemble"] == 1
    assert counts["split_host_blocked"] == len(tasks) * len(seeds)
    assert counts["split_cross_gen"] == len(seeds)
    per_epoch = "static_head" in evaluation["baselines"]["methods"]
    assert counts["baseline_in_distribution"] == len(tasks) * (2 if per_epoch else 1)
    assert counts["baseline_cross_gen"] == 1
    for rule in ("select_scores", "table_metrics", "figure_roc", "figure_ensemble_curve"):
        assert counts[rule] == 1
    assert counts["figure_metric_bars"] == len(evaluation["metrics"])
