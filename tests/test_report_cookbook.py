"""The HTML report and the cookbook commands (docs/cookbook.md), on one shared toy run.

The run covers two stages of the toy workflow, pretraining and the BLAST overlap (figure and
tables), to stay fast; the report is built for those targets. The tests that only plan (dry
runs) or rebuild a leaf come first; the last one kills a pretraining rerun and resumes it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from .conftest import REPO, requires_blast
from .report_helpers import declared_captions, missing_captions, parse_report, plain

pytestmark = [pytest.mark.slow, requires_blast]


def targets(out: Path) -> list[str]:
    """What the shared run builds: every report item of the pretraining and BLAST stages."""
    return [str(out / "pretrain" / "discriminator" / "metrics.tsv"), str(out / "blast" / "blast_overlap.png")]


def snakemake(configfiles, *args, timeout=1800, check=True):
    """Snakemake in the repository; targets and flags in ``args`` come before --configfile."""
    run = subprocess.run([sys.executable, "-m", "snakemake", *args, "--cores", "2", "--configfile",
                          str(REPO / "config" / "toy.yaml"), *map(str, configfiles)],
                         cwd=REPO, capture_output=True, text=True, timeout=timeout)
    if check:
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    return run


def planned_jobs(run) -> dict[str, int]:
    """Rule -> job count from a dry run's "Job stats" table ({} when nothing is to be done)."""
    text = run.stdout + run.stderr
    if "Job stats:" not in text:
        return {}
    table = text.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    jobs = dict((m.group(1), int(m.group(2))) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M))
    jobs.pop("total", None)
    return jobs


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """One complete toy run: (config files, output folder)."""
    folder = tmp_path_factory.mktemp("cookbook")
    # Short pretraining (mine to shorten): what is tested is the plumbing around the jobs.
    config = {"output_dir": str(folder / "toy"),
              "pretrain": {"generator": {"epochs": 4, "checkpoint_epochs": [1, 3]},
                           "discriminator": {"epochs_per_generator": 1, "checkpoint_every": 1}}}
    (folder / "run.yaml").write_text(yaml.safe_dump(config))
    configfiles = [folder / "run.yaml"]
    snakemake(configfiles, *targets(folder / "toy"))
    return configfiles, folder / "toy"


@pytest.fixture(scope="module")
def report(toy):
    """The HTML report's results (path -> caption, ...) and categories (section -> subsection -> paths)."""
    configfiles, out = toy
    snakemake(configfiles, *targets(out), "--report", str(out.parent / "report.html"))
    return parse_report(out.parent / "report.html")


def test_report_holds_every_item_with_its_caption_and_section(report):
    """Snakemake refuses to build the report when a report() output is missing, so every item is in it."""
    results, categories, description = report
    captions = [plain(item["caption"]) for item in results.values()]
    assert len(captions) == len(declared_captions("pretrain", "blast")) and all(captions)
    assert missing_captions(results, declared_captions("pretrain", "blast")) == []
    listed = {path for section in categories.values() for paths in section.values() for path in paths}
    assert listed == set(results), "every item sits in a section"
    assert "Other" not in categories, "every item names its paper section (category=...)"
    assert any(p.endswith("pretrain/discriminator/metrics.tsv") for p in results)
    assert "Pope et al." in description


def test_rerun_one_figure_runs_exactly_that_job(toy, report):
    configfiles, out = toy
    results, _, _ = report
    figures = sorted(p for p in results if p.endswith((".png", ".svg", ".pdf")))
    figure = Path(figures[0] if figures else out / "pretrain" / "discriminator" / "metrics.tsv")
    figure = figure if figure.is_absolute() else REPO / figure
    figure.unlink()
    plan = planned_jobs(snakemake(configfiles, str(figure), "-n"))
    assert sum(plan.values()) == 1, plan
    (rule,) = plan
    snakemake(configfiles, str(figure))
    assert figure.is_file()
    assert planned_jobs(snakemake(configfiles, *targets(out), "-n")) == {}, "the run should be complete again"
    assert planned_jobs(snakemake(configfiles, str(figure), "-f", "-n")) == {rule: 1}


def test_force_one_stage_plans_it_and_what_depends_on_it(toy):
    configfiles, out = toy
    plan = planned_jobs(snakemake(configfiles, *targets(out), "-n", "--forcerun", "pretrain_discriminator"))
    assert plan == {"pretrain_discriminator": 1}, "only the stage: nothing of the targets depends on it"
    everything = planned_jobs(snakemake(configfiles, "all", "-n", "--forcerun", "pretrain_discriminator"))
    assert everything["pretrain_discriminator"] == 1 and "pretrain_generator" not in everything
    assert "toy_mirror" not in everything and "blast_overlap" not in everything


def test_published_checkpoints_skip_pretraining(toy, tmp_path):
    configfiles, out = toy
    published = tmp_path / "published.yaml"
    published.write_text("pretrain:\n  pretrained: published\n")
    run = snakemake([*configfiles, published], "all", "-n")
    plan = planned_jobs(run)
    assert not {"pretrain_generator", "pretrain_discriminator"} & set(plan)
    assert plan.get("extract_pretrainedmodels") == 1
    assert str(out / "data" / "pretrainedmodels") in run.stdout


def test_killed_run_unlock_rerun_incomplete_and_pretraining_resume(toy):
    """kill -9 during pretraining: outputs are marked incomplete, the directory stays locked,
    --unlock frees it, and --rerun-incomplete reruns the generator, which resumes from its last
    resume point."""
    configfiles, out = toy
    target = out / "pretrain" / "generator" / "metrics.tsv"
    first = out / "pretrain" / "generator" / "epoch1"
    resume = out / "pretrain" / "generator" / "resume" / "state.pt"
    command = [sys.executable, "-m", "snakemake", str(target), "--forcerun", "pretrain_generator", "--cores", "2",
               "--configfile", str(REPO / "config" / "toy.yaml"), *map(str, configfiles)]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        # the old outputs go when the job starts; the resume point comes after its first epoch
        while not (first.is_dir() and resume.is_file()) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        assert first.is_dir() and resume.is_file(), "the generator wrote no checkpoint or resume point"
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    incomplete = snakemake(configfiles, str(target), check=False)
    assert incomplete.returncode != 0 and "--rerun-incomplete" in incomplete.stderr
    locked = snakemake(configfiles, str(target), "--rerun-incomplete", check=False)
    assert locked.returncode != 0 and "cannot be locked" in locked.stdout + locked.stderr
    snakemake(configfiles, "--unlock")
    snakemake(configfiles, str(target), "--rerun-incomplete")
    log = (out / "logs" / "pretrain" / "generator.log").read_text()
    assert "resuming generator at epoch" in log
    assert not resume.parent.exists()
