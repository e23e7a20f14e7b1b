"""A real SIGTERM (what SLURM sends at a time limit) to a running ``microbiome-lm pretrain-generator``:
it saves a resume point and exits 143; the rerun ends with the weights of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import torch

from microbiome_lm.cli import main

from .test_pretrain_cli import TINY, stage_args, weights, write_inputs

LONGER = json.loads(json.dumps(TINY))
LONGER["pretrain"]["generator"].update(epochs=12, checkpoint_epochs=[4, 11])


def _command(paths, out_dir):
    return [sys.executable, "-m", "microbiome_lm", *stage_args("pretrain-generator", paths, out_dir)]


def test_sigterm_then_rerun_matches_uninterrupted_run(tmp_path):
    paths = write_inputs(tmp_path, LONGER, n_train=48)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    stopped = tmp_path / "stopped"
    proc = subprocess.Popen(_command(paths, stopped), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    state = stopped / "resume" / "state.pt"
    deadline = time.monotonic() + 120
    while not state.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)  # the first resume point appears at the end of epoch 0
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=120)[0].decode()
    assert proc.returncode == 143, output
    assert "rerun the same command to continue" in output
    saved = torch.load(state, weights_only=True)
    assert 1 <= saved["epoch"] < 12
    assert not (stopped / "metrics.tsv").exists()

    subprocess.run(_command(paths, stopped), env=env, check=True, capture_output=True)
    reference = tmp_path / "reference"
    assert main(stage_args("pretrain-generator", paths, reference)) == 0  # uninterrupted, in this process
    for name in ("epoch4", "epoch11"):
        ours, expected = weights(stopped / name), weights(reference / name)
        assert ours.keys() == expected.keys()
        assert all(torch.equal(ours[k], expected[k]) for k in expected), name
        assert (stopped / name / "token_table.safetensors").read_bytes() == \
            (reference / name / "token_table.safetensors").read_bytes()
    assert not (stopped / "resume").exists()
