"""DDP pretraining: torchrun with 2 CPU ranks (gloo) trains like 1 process on the same global batches."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch

from microbiome_lm.cli import main
from microbiome_lm.core.errors import ConfigError
from microbiome_lm.train.batching import Shard
from microbiome_lm.train.distributed import init_world
from microbiome_lm.train.resume import rng_for_rank

from .test_pretrain_cli import TINY, stage_args, weights, write_inputs

# Dropout draws differ between one process and two, so the comparison runs without it; the
# batch (10 samples, not a multiple of 2 ranks in the last one) keeps uneven shards in play.
CONFIG = copy.deepcopy(TINY)
CONFIG["model"].update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
CONFIG["pretrain"]["generator"].update(batch_size=10, shuffle=True)
CONFIG["pretrain"]["discriminator"].update(batch_size=10, drop_last=False)


def torchrun_command(args, nproc=2):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc), "-m",
            "microbiome_lm", *args], env


def torchrun(args, nproc=2):
    command, env = torchrun_command(args, nproc)
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Both stages once in one process and once as 2 DDP ranks, from the same inputs."""
    folder = tmp_path_factory.mktemp("ddp")
    paths = write_inputs(folder, config=CONFIG, n_train=43)
    gens = [str(folder / "single" / "generator" / f"epoch{e}") for e in (0, 2)]
    for mode in ("single", "ddp"):
        for stage, extra in (("pretrain-generator", []), ("pretrain-discriminator", ["--generators", *gens])):
            args = stage_args(stage, paths, folder / mode / stage.split("-")[1], *extra)
            if mode == "single":
                assert main(args) == 0
            else:
                run = torchrun(args)
                assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return folder


@pytest.mark.parametrize("stage,checkpoints", [("generator", ["epoch0", "epoch2"]),
                                               ("discriminator", ["epoch3", "epoch4"])])
def test_two_ranks_give_the_single_process_losses_and_weights(runs, stage, checkpoints):
    single, ddp = runs / "single" / stage, runs / "ddp" / stage
    assert sorted(p.name for p in ddp.iterdir()) == sorted(checkpoints + ["metrics.tsv"])  # rank 0 wrote once
    ours, reference = (pd.read_csv(d / "metrics.tsv", sep="\t").drop(columns="train_samples_per_s")
                       for d in (ddp, single))
    pd.testing.assert_frame_equal(ours, reference, rtol=1e-4, atol=1e-6)
    assert ours["train_loss"].nunique() == len(ours), "losses should change from epoch to epoch"
    for name in checkpoints:
        assert [json.loads((d / name / "meta.json").read_text())["ddp_ranks"] for d in (ddp, single)] == [2, 1]
        a, b = weights(ddp / name), weights(single / name)
        for key in b:
            torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5, msg=f"{name}: {key}")


def test_shards_cover_every_row_once():
    for n, size in [(10, 2), (7, 3), (1, 2), (32, 4)]:
        parts = [np.arange(n)[Shard(rank, size).rows(n)] for rank in range(size)]
        assert np.array_equal(np.concatenate(parts), np.arange(n))
        assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_more_ranks_than_batch_rows_is_a_config_error(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match="smaller than the 2 DDP ranks"):
        init_world(torch.device("cpu"), batch_size=1)


# With dropout on and torch's own dropout (its draws depend on each rank's shard shape), the two
# ranks' random streams part ways, so a resume point must carry every rank's random state.
STOPPABLE = copy.deepcopy(TINY)
STOPPABLE["pretrain"]["generator"].update(epochs=8, checkpoint_epochs=[3, 7], batch_size=10, shuffle=True)
STOPPABLE["pretrain"]["speed"] = {"fast_dropout": False}


def test_sigterm_to_every_rank_then_rerun_matches_uninterrupted_ddp_run(tmp_path):
    """What SLURM does at a time limit: SIGTERM to every process of the step, torchrun included."""
    paths = write_inputs(tmp_path, config=STOPPABLE, n_train=43)
    stopped = tmp_path / "stopped"
    command, env = torchrun_command(stage_args("pretrain-generator", paths, stopped))
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    state = stopped / "resume" / "state.pt"
    deadline = time.monotonic() + 300
    while not state.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)  # the first resume point appears at the end of epoch 0
    os.killpg(proc.pid, signal.SIGTERM)
    output = proc.communicate(timeout=300)[0].decode()
    assert proc.returncode != 0, output
    assert "rerun the same command to continue" in output, output
    saved = torch.load(state, weights_only=True)
    assert 1 <= saved["epoch"] < 8
    assert len(saved["rng"]) == 2, "one random state per rank"
    assert not torch.equal(saved["rng"][0]["torch"], saved["rng"][1]["torch"]), \
        "the ranks' streams should differ, or this test cannot tell them apart"
    assert not (stopped / "metrics.tsv").exists()

    rerun = torchrun(stage_args("pretrain-generator", paths, stopped))
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    reference = tmp_path / "reference"
    run = torchrun(stage_args("pretrain-generator", paths, reference))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    for name in ("epoch3", "epoch7"):
        ours, expected = weights(stopped / name), weights(reference / name)
        assert ours.keys() == expected.keys()
        assert all(torch.equal(ours[k], expected[k]) for k in expected), name
    ours, expected = (pd.read_csv(d / "metrics.tsv", sep="\t").drop(columns="train_samples_per_s")
                      for d in (stopped, reference))
    pd.testing.assert_frame_equal(ours, expected)
    assert not (stopped / "resume").exists()


def test_each_rank_takes_its_own_saved_random_state(caplog):
    states = [{"rank": r} for r in range(2)]
    assert [rng_for_rank(states, r, 2) for r in range(2)] == states
    assert rng_for_rank({"rank": 0}, 0, 1) == {"rank": 0}  # single-process points hold one state
    assert not caplog.records
    assert [rng_for_rank(states, r, 4) for r in range(4)] == states + states  # resumed on more ranks
    assert "written by 2 rank(s), resumed on 4" in caplog.text
