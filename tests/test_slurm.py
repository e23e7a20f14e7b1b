"""`snakemake --profile slurm` against a real single-node SLURM cluster on localhost.

slurm/local_cluster.sh starts munged, slurmctld and slurmd (partitions cpu and gpu, one fake
GPU); the toy workflow up to the pretraining metrics then runs through the repository's slurm
profile, with three test-only overrides: squeue status polling (this cluster has no
accounting, so sacct fails and the plugin would wait forever), a 2 s first status check, and
kept SLURM logs. cluster.gpu_resources: always makes the pretraining rules ask for a GPU while
still computing on the CPU, and cluster.pretrain_gpus: 2 runs them as 2 DDP ranks under
torchrun in one job that asks for 2 (fake) GPUs. Every job's record in slurmctld (scontrol)
must show the partition, GPUs, CPUs, memory and time limit the job declared.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from .conftest import REPO

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0,
                       reason="starting slurmctld, slurmd and munged needs root"),
    pytest.mark.skipif(any(shutil.which(c) is None for c in ("slurmctld", "slurmd", "munged", "sbatch", "scontrol")),
                       reason="Debian packages slurmctld slurmd slurm-client munge are not installed "
                              "(`make system-deps` as root installs them)"),
]

SCRIPT = REPO / "slurm" / "local_cluster.sh"
# Small pretraining: the point is where the jobs run, not what they learn.
OVERRIDES = {
    "cluster": {"gpu_resources": "always", "pretrain_gpus": 2},
    "pretrain": {"generator": {"epochs": 1, "checkpoint_epochs": [0]},
                 "discriminator": {"epochs_per_generator": 1, "checkpoint_every": 1}},
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    env = {**os.environ, "SLURM_BASE": str(tmp_path_factory.mktemp("slurm-local")), "FAKE_GPUS": "2"}
    start = subprocess.run(["bash", str(SCRIPT), "start"], capture_output=True, text=True, timeout=180, env=env)
    assert start.returncode == 0, start.stderr
    try:
        yield
    finally:
        subprocess.run(["scancel", "--user", "root"], capture_output=True, timeout=30)
        subprocess.run(["bash", str(SCRIPT), "stop"], capture_output=True, timeout=120, env=env)


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory):
    folder = tmp_path_factory.mktemp("slurm-run")
    configfile = folder / "config.yaml"
    configfile.write_text(yaml.safe_dump({"output_dir": str(folder / "run"), **OVERRIDES}))
    target = folder / "run" / "pretrain" / "discriminator" / "metrics.tsv"
    # subprocess's timeout kills with SIGKILL: the executor ignores SIGTERM when it hangs.
    run = subprocess.run(
        [sys.executable, "-m", "snakemake", str(target), "--profile", "slurm", "--resources", "gpu=2",
         "--configfile", str(REPO / "config" / "toy.yaml"), str(configfile),
         "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "2",
         "--slurm-logdir", str(folder / "slurm_logs"), "--slurm-keep-successful-logs"],
        cwd=REPO, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    return folder, run.stdout + run.stderr


def declared_jobs(log: str) -> dict[int, dict]:
    """Snakemake job id -> rule, threads and resources, from the job blocks Snakemake prints."""
    jobs = {}
    for block in re.split(r"\n\s*\n", log):
        rule = re.search(r"^(local)?rule (\w+):", block, re.M)
        jobid = re.search(r"^\s+jobid: (\d+)", block, re.M)
        if not rule or not jobid:
            continue
        resources = dict(item.split("=", 1) for item in
                         re.search(r"^\s+resources: (.*)$", block, re.M).group(1).split(", "))
        threads = re.search(r"^\s+threads: (\d+)", block, re.M)
        jobs[int(jobid.group(1))] = {"rule": rule.group(2), "local": bool(rule.group(1)),
                                     "threads": int(threads.group(1)) if threads else 1, **resources}
    return jobs


def slurm_record(slurm_id: str) -> dict:
    out = subprocess.run(["scontrol", "show", "job", "-o", slurm_id], capture_output=True, text=True,
                         check=True).stdout
    return dict(item.split("=", 1) for item in out.split() if "=" in item)


def test_every_job_went_through_sbatch_with_its_declared_resources(slurm_run):
    folder, log = slurm_run
    jobs = declared_jobs(log)
    submitted = dict(re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", log))
    assert {"toy_mirror", "pretrain_generator", "pretrain_discriminator"} <= {j["rule"] for j in jobs.values()}
    assert {str(i) for i, j in jobs.items() if not j["local"]} == set(submitted), "a job ran outside SLURM"
    for jobid, slurm_id in submitted.items():
        job, record = jobs[int(jobid)], slurm_record(slurm_id)
        assert record["JobState"] == "COMPLETED", (job, record)
        assert record["Comment"].startswith(f"rule_{job['rule']}")
        gpus = int(job.get("gpu", 0))
        assert record["Partition"] == ("gpu" if gpus else "cpu"), (job["rule"], record["Partition"])
        assert (f"gres:gpu:{gpus}" in record.get("TresPerJob", "")) == bool(gpus), (job["rule"], record)
        assert int(record["NumCPUs"]) == job["threads"], job["rule"]
        assert record["MinMemoryNode"] == f"{job['mem_mb']}M", job["rule"]
        hours, minutes = divmod(int(job["runtime"]), 60)
        assert record["TimeLimit"] == f"{hours:02d}:{minutes:02d}:00", job["rule"]
        assert list((folder / "slurm_logs" / f"rule_{job['rule']}").rglob(f"{slurm_id}.log")), "no SLURM log"
    gpu_rules = {jobs[int(j)]["rule"]: int(jobs[int(j)].get("gpu", 0)) for j in submitted
                 if int(jobs[int(j)].get("gpu", 0))}
    assert gpu_rules == {"pretrain_generator": 2, "pretrain_discriminator": 2}


def test_the_pretraining_jobs_produced_their_outputs_on_the_node(slurm_run):
    folder, _ = slurm_run
    metrics = pd.read_csv(folder / "run" / "pretrain" / "discriminator" / "metrics.tsv", sep="\t")
    assert metrics["epoch"].tolist() == [0] and metrics["rtd_accuracy"].notna().all()
    assert (folder / "run" / "pretrain" / "generator" / "epoch0" / "model.safetensors").is_file()
    meta = json.loads((folder / "run" / "pretrain" / "generator" / "epoch0" / "meta.json").read_text())
    assert meta["ddp_ranks"] == 2, "the generator should have trained as 2 DDP ranks (torchrun)"
    # inside the allocation, the job step ran Snakemake's slurm-jobstep executor for that rule alone
    (log,) = (folder / "slurm_logs" / "rule_pretrain_generator").rglob("*.log")
    assert "--executor slurm-jobstep" in log.read_text() and "--allowed-rules pretrain_generator" in log.read_text()
