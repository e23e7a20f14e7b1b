"""Baselines on the toy IBD task: seconds and test AUROC per method and seed, as the workflow runs them.

    python benchmarks/baselines_toy.py                      # toy config values, seeds of config/toy.yaml
    python benchmarks/baselines_toy.py --config config/toy.yaml --seeds 1 2 3

Generates the toy mirror (config/toy.yaml), builds the IBD host pickle, draws the protocol-A
host-blocked splits, then fits every configured baseline on train + val (protocol A, phase 2)
and scores the test part, exactly as ``microbiome-lm baseline`` does. Seconds are wall time of
the fit and scoring on one process (torch on one thread, forests on ``threads`` workers).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

from microbiome_lm.config import load_config
from microbiome_lm.core.arrays import load_coordinate_array
from microbiome_lm.data.hosts import build_host_pickles, load_host_pickle
from microbiome_lm.data.toy import generate_toy_mirror
from microbiome_lm.evaluate.baselines import BaselineInputs, fit_predict, method_params, unlabelled_pool
from microbiome_lm.evaluate.run_baselines import load_labelled_set, run_seed, trim_empty_slots
from microbiome_lm.evaluate.splits import make_split

REPO = Path(__file__).resolve().parents[1]
MEMBERS = ("total_IBD_otu.npy", "total_IBD_512.npy", "total_IBD_label.npy", "train_encodings_1897.npy")


def toy_ibd(config: dict, folder: Path):
    mirror = folder / "mirror"
    generate_toy_mirror(mirror, config)
    with zipfile.ZipFile(mirror / "dryad" / "microbiomedata.zip") as archive:
        for member in MEMBERS:
            (folder / member).write_bytes(archive.read(member))
    meta = mirror / "agp_metadata"
    pickle = build_host_pickles(seqtab=meta / "seqtab_final_filter.07.txt",
                                vocab_fasta=mirror / "dryad" / "seqs_.07_embed.fasta",
                                err_to_qid=meta / "err-to-qid.txt", mapping=meta / "AG_mapping.txt",
                                arrays={"total_IBD": folder / "total_IBD_otu.npy"}, out_dir=folder)["total_IBD"]
    embeddings = np.load(mirror / "dryad" / "vocab_embeddings.npy")
    task = load_labelled_set(folder / MEMBERS[0], folder / MEMBERS[1], folder / MEMBERS[2], embeddings.shape[0])
    return task, load_host_pickle(pickle, n_rows=task.labels.size), embeddings, folder / MEMBERS[3]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "config" / "toy.yaml"))
    parser.add_argument("--seeds", type=int, nargs="*", default=None)
    args = parser.parse_args()
    config = load_config(args.config)
    evaluation = config["evaluation"]
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        task, hosts, embeddings, unlabelled = toy_ibd(config, Path(tmp))
        candidates = trim_empty_slots(load_coordinate_array(unlabelled, vocab_size=embeddings.shape[0]))
        pool = candidates[unlabelled_pool(candidates, [task.full])]
        rows = []
        for seed in args.seeds or evaluation["seeds"]:
            split = make_split("host_blocked", task.labels, seed, evaluation, hosts, "toy IBD")
            train = np.sort(np.concatenate([split.train, split.val]))
            owner = {i: h for h, members in hosts.items() for i in members}
            inputs = BaselineInputs(n_vocab=embeddings.shape[0], vocab_embeddings=embeddings, unlabelled=pool,
                                    groups=np.array([owner[i] for i in train]), n_jobs=config["threads"])
            for method in evaluation["baselines"]["methods"]:
                array = task.top if method == "static_head" else task.full
                start = time.perf_counter()
                scores = fit_predict(method, array[train], task.labels[train], {"test": array[split.test]},
                                     seed=run_seed(config["seed"], str(seed)), inputs=inputs,
                                     params=method_params(evaluation["baselines"], method))
                seconds = time.perf_counter() - start
                rows.append({"method": method, "seed": seed, "seconds": round(seconds, 2),
                             "test_auroc_last_epoch": round(roc_auc_score(task.labels[split.test],
                                                                          scores["test"][-1]), 3)})
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    print()
    print(table.groupby("method")[["seconds", "test_auroc_last_epoch"]].mean().round(3).to_string())


if __name__ == "__main__":
    main()
