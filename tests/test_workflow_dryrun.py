"""Dry runs: the paper's DAG lists every download and host job, offline; the toy DAG is complete."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from microbiome_lm.data import layout

from .conftest import REPO


def job_counts(output_dir, *args: str) -> dict[str, int]:
    """Jobs of a dry run writing under ``output_dir`` (a fresh folder: nothing is up to date)."""
    run = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "2", *args,
                          "--config", f"output_dir={output_dir}"],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    table = run.stdout.split("Job stats:")[1]
    return {m[0]: int(m[1]) for m in re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.M)}


def test_paper_dry_run_lists_every_download_and_host_job(tmp_path):
    counts = job_counts(tmp_path, "--configfile", "config/config.yaml")
    assert counts["fetch_dryad"] == len(layout.DRYAD_FILES)
    assert counts["fetch_zenodo"] == len(layout.ZENODO_FILES)
    assert counts["fetch_file_server"] == len(layout.HOST_METADATA_FILES) + len(layout.COHORT_FILES)
    for archive in ("microbiomedata", "pretrainedmodels", "ensemble", "property_pathway_correlations"):
        assert counts[f"extract_{archive}"] == 1
    assert counts["validate_data"] == 1
    assert counts["host_pickles"] == 1
    assert counts["pretrain_generator"] == counts["pretrain_discriminator"] == 1
    assert "toy_mirror" not in counts


@pytest.mark.parametrize("configfile", ["config/toy.yaml"])
def test_toy_dry_run_generates_instead_of_downloading(configfile, tmp_path):
    counts = job_counts(tmp_path, "--configfile", configfile)
    assert counts["toy_mirror"] == 1
    assert not any(name.startswith("fetch_") for name in counts)
    assert counts["stage_raw"] == sum(len(v) for v in (layout.DRYAD_FILES, layout.ZENODO_FILES,
                                                         layout.HOST_METADATA_FILES, layout.COHORT_FILES))
