"""End to end: the whole toy workflow from a local Dryad/Zenodo mock, down to the evaluation tables.

This is the real Snakemake run of every stage that exists, on the toy mirror, with the real
HTTP client talking to a server on 127.0.0.1 that needs a bearer token.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from microbiome_lm.config import deep_merge, load_config, read_yaml
from microbiome_lm.data.hosts import load_host_pickle
from microbiome_lm.data.mock_server import serve_mirror
from microbiome_lm.data.toy import generate_toy_mirror

from .conftest import REPO
from .report_helpers import declared_captions, missing_captions, parse_report

pytestmark = pytest.mark.slow
TOKEN = "toy-secret-token-123"


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    root = tmp_path_factory.mktemp("mirror") / "toy"
    generate_toy_mirror(root, load_config(REPO / "config" / "toy.yaml"))
    return root


def run_snakemake(configfile, *extra, env=None):
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *extra, "--cores", "2", "--configfile", str(configfile)],
        cwd=REPO, capture_output=True, text=True, timeout=900, env=env,
    )


def test_toy_workflow_from_mock_dryad(mirror, tmp_path):
    out = tmp_path / "run"
    with serve_mirror(mirror, require_token=TOKEN, drop_after_bytes=300_000) as server:
        cfg = deep_merge(read_yaml(REPO / "config" / "toy.yaml"),
                         deep_merge(server.config(), {"output_dir": str(out), "data": {"source": "dryad"}}))
        cfg["data"]["download"] = {"retries": 3, "backoff_seconds": 0.1, "timeout_seconds": 30}
        configfile = tmp_path / "config.yaml"
        configfile.write_text(yaml.safe_dump(cfg))
        run = run_snakemake(configfile, env={**os.environ, "DRYAD_TOKEN": TOKEN})
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        resumed = [r for r in server.requests if r["range"] and not r["range"].startswith("bytes=0-")]
        assert resumed, "the dropped connections should have been resumed with Range requests"

    validation = pd.read_csv(out / "data" / "validation.tsv", sep="\t")
    assert len(validation) == 18 and (validation["n_samples"] > 0).all()
    labels_n = {row.file: row.n_samples for row in validation.itertuples()}
    for key, full in [("total_IBD", "total_IBD_otu.npy"), ("FRUIT_FREQUENCY", "fruitdata/FRUIT_FREQUENCY_all_otu.npy"),
                      ("VEGETABLE_FREQUENCY", "vegdata/VEGETABLE_FREQUENCY_all_otu.npy")]:
        mapping = load_host_pickle(out / "hosts" / f"host_to_indices_{key}_512.pkl", n_rows=labels_n[full])
        assert len(mapping) < labels_n[full], "several samples per host expected"
        assert not any(h.startswith(("unmatched", "ambiguous")) for h in mapping)
    # The raw files are the mirror's, byte for byte, and the token never reached a log.
    for group in ("dryad", "zenodo", "agp_metadata", "cohorts"):
        for f in (mirror / group).iterdir():
            assert (out / "raw" / group / f.name).read_bytes() == f.read_bytes()
    for log in (out / "logs").rglob("*.log"):
        assert TOKEN not in log.read_text()

    # Issue 4's target: on the planted IBD signal the finetuned transformer and the baselines
    # reach AUROC >= 0.8 in-distribution (protocol A, mean over seeds), and the figures exist.
    summary = pd.read_csv(out / "evaluate" / "summary.tsv", sep="\t")
    ibd_a = summary[(summary["task"] == "ibd") & (summary["protocol"] == "A") & (summary["metric"] == "auroc")
                    & (summary["epoch_choice"] == "val_best")]
    auroc = ibd_a.set_index("method")["mean"]
    print(auroc.to_string())
    assert auroc["transformer"] >= 0.8 and auroc["rf"] >= 0.8 and auroc["lr"] >= 0.8
    for figure in ("roc.png", "bars_auroc.png", "ensemble_curve.png"):
        assert (out / "evaluate" / "figures" / figure).stat().st_size > 10_000

    # The HTML report of the complete run holds every report() item of every stage, each with
    # its caption and paper section (Snakemake refuses to build it when an item is missing).
    report = tmp_path / "report.html"
    built = run_snakemake(configfile, "--report", str(report))
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    results, categories, _ = parse_report(report)
    stages = sorted(p.stem for p in (REPO / "rules").glob("*.smk"))
    declared = declared_captions(*stages)
    assert len(declared) >= 25 and missing_captions(results, declared) == []
    assert "Other" not in categories, "every item names its paper section"
    for stage in ("evaluate", "interpret", "taxonomy", "pathways", "embed", "blast", "pretrain"):
        assert any(f"/{stage}/" in path for path in results), f"no {stage} item in the report"


def test_wrong_checksum_fails_the_job_and_leaves_nothing(mirror, tmp_path):
    out = tmp_path / "run"
    with serve_mirror(mirror, corrupt={"vocab_embeddings.npy"}) as server:
        cfg = deep_merge(read_yaml(REPO / "config" / "toy.yaml"),
                         deep_merge(server.config(), {"output_dir": str(out), "data": {"source": "dryad"}}))
        configfile = tmp_path / "config.yaml"
        configfile.write_text(yaml.safe_dump(cfg))
        run = run_snakemake(configfile, str(out / "raw" / "dryad" / "vocab_embeddings.npy"))
    assert run.returncode != 0, run.stdout[-2000:]
    assert not (out / "raw" / "dryad" / "vocab_embeddings.npy").exists()
    assert not list((out / "raw" / "dryad").glob("vocab_embeddings.npy*"))
    log = (out / "logs" / "fetch" / "dryad_vocab_embeddings.npy.log").read_text()
    assert "vocab_embeddings.npy" in log and "sha" in log.lower()
