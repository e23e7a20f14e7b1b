"""The toy data's numbers quoted in docs/toy_data.md, measured on a freshly generated mirror.

    python benchmarks/toy_data_summary.py                        # config/toy.yaml (seed 7)
    python benchmarks/toy_data_summary.py --config my_toy.yaml

Generates the toy mirror, then prints one table: sample and label counts, how common the
planted taxa are, how much phylogeny the vocabulary embeddings carry (5-nearest-neighbour
phylum accuracy against the majority class and shuffled embeddings; KMeans(6) vs phylum ARI),
what a logistic-regression baseline recovers from the planted IBD signal (host-blocked 5-fold
AUROC on total_IBD, AUROC on the external cohorts, planted taxa among its 10 largest
coefficients) and the share of the cohorts' reads on novel ASVs.
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import adjusted_rand_score, roc_auc_score
from sklearn.model_selection import GroupKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier

from microbiome_lm.config import load_config
from microbiome_lm.data import toy_16s
from microbiome_lm.data.fasta import read_vocabulary_fasta
from microbiome_lm.data.hosts import build_host_pickles, load_host_pickle
from microbiome_lm.data.toy import generate_toy_mirror
from microbiome_lm.evaluate.baselines import count_matrix, relative_abundance

REPO = Path(__file__).resolve().parents[1]


def arrays(mirror: Path) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(mirror / "dryad" / "microbiomedata.zip") as archive:
        return {n: np.load(io.BytesIO(archive.read(n)), allow_pickle=False)
                for n in archive.namelist() if n.endswith(".npy")}


def presence(array: np.ndarray, n_taxa: int) -> np.ndarray:
    """(samples, taxa) bool from a coordinate array."""
    return count_matrix(array, n_taxa).toarray() > 0


def log_relative(array: np.ndarray, n_taxa: int) -> np.ndarray:
    return np.log10(relative_abundance(array, n_taxa).astype(np.float64) + 1e-5)


def embedding_rows(mirror: Path, n_taxa: int) -> list[tuple[str, str]]:
    vocab = read_vocabulary_fasta(mirror / "dryad" / "seqs_.07_embed.fasta", n_taxa)
    phylum_of = {f.sequence: f.phylum for f in toy_16s.load_toy_16s()}
    phylum = np.array([phylum_of[s] for s in vocab])
    emb = np.load(mirror / "dryad" / "vocab_embeddings.npy")
    knn = cross_val_score(KNeighborsClassifier(5), emb, phylum, cv=5).mean()
    shuffled = cross_val_score(KNeighborsClassifier(5), emb[np.random.default_rng(0).permutation(len(emb))],
                               phylum, cv=5).mean()
    majority = np.unique(phylum, return_counts=True)[1].max() / len(phylum)
    ari = np.mean([adjusted_rand_score(phylum, KMeans(6, n_init=10, random_state=k).fit_predict(emb))
                   for k in range(3)])
    return [("5-NN phylum accuracy (majority class; shuffled embeddings)",
             f"{knn:.0%} ({majority:.0%}; {shuffled:.0%})"),
            ("KMeans(6) vs phylum ARI, mean of 3 seeds", f"{ari:.2f}")]


def baseline_rows(mirror: Path, data: dict, signal: dict, n_taxa: int, folder: Path) -> list[tuple[str, str]]:
    with zipfile.ZipFile(mirror / "dryad" / "microbiomedata.zip") as archive:
        archive.extract("total_IBD_otu.npy", folder)  # the host pickle is built from a file, as in the workflow
    meta = mirror / "agp_metadata"
    pickle = build_host_pickles(seqtab=meta / "seqtab_final_filter.07.txt",
                                vocab_fasta=mirror / "dryad" / "seqs_.07_embed.fasta",
                                err_to_qid=meta / "err-to-qid.txt", mapping=meta / "AG_mapping.txt",
                                arrays={"total_IBD": folder / "total_IBD_otu.npy"}, out_dir=folder)["total_IBD"]
    x, y = log_relative(data["total_IBD_otu.npy"], n_taxa), data["total_IBD_label.npy"][:, 0]
    owner = {i: h for h, rows in load_host_pickle(pickle, n_rows=len(y)).items() for i in rows}
    groups = np.array([owner[i] for i in range(len(y))])
    scores = np.zeros(len(y))
    for train, test in GroupKFold(n_splits=5).split(x, y, groups):
        scores[test] = LogisticRegression(C=0.1, max_iter=2000).fit(x[train], y[train]).predict_proba(x[test])[:, 1]
    model = LogisticRegression(C=0.1, max_iter=2000).fit(x, y)
    external = [roc_auc_score(data[labels][:, 0], model.predict_proba(log_relative(data[stem], n_taxa))[:, 1])
                for stem, labels in (("halfvarson_otu.npy", "halfvarson_IBD_labels.npy"),
                                     ("schirmer_IBD_otu.npy", "schirmer_IBD_labels.npy"))]
    planted = set(signal["ibd"]["enriched"] + signal["ibd"]["depleted"])
    top10 = set(np.argsort(-np.abs(model.coef_[0]))[:10].tolist())
    return [("logistic regression (C 0.1), host-blocked 5-fold AUROC on total_IBD", f"{roc_auc_score(y, scores):.3f}"),
            ("the same trained on all of total_IBD: AUROC Halfvarson; HMP2", f"{external[0]:.3f}; {external[1]:.3f}"),
            ("planted IBD taxa among its 10 largest coefficients", f"{len(top10 & planted)}")]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "config" / "toy.yaml"))
    args = parser.parse_args(argv)
    config = load_config(args.config)
    n_taxa = config["toy"]["n_taxa"]
    with tempfile.TemporaryDirectory() as tmp:
        mirror = Path(tmp) / "mirror"
        generate_toy_mirror(mirror, config)
        signal = json.loads((mirror / "planted_signal.json").read_text())
        data = arrays(mirror)
        agp = presence(np.concatenate([data["train_encodings_1897.npy"], data["test_encodings_1897.npy"]]), n_taxa)
        share = agp.mean(axis=0)
        ibd = signal["ibd"]["enriched"] + signal["ibd"]["depleted"]
        diet = [t for trait in ("fruit", "vegetable") for t in signal[trait]["up"] + signal[trait]["down"]]
        labels = data["total_IBD_label.npy"][:, 0]
        rows = [("AGP samples (hosts)", f"{len(agp)} ({signal['sizes']['agp_hosts']})"),
                ("total_IBD: IBD samples of all", f"{int(labels.sum())} of {len(labels)} ({labels.mean():.0%})"),
                ("planted IBD taxa: enriched + depleted", f"{len(signal['ibd']['enriched'])} + "
                                                          f"{len(signal['ibd']['depleted'])}"),
                ("planted IBD taxa: share of AGP samples holding one", f"{share[ibd].min():.0%}-{share[ibd].max():.0%}"),
                ("diet taxa: share of AGP samples holding one", f"{share[diet].min():.0%}-{share[diet].max():.0%}"),
                ("fewest AGP samples holding a vocabulary taxon", f"{agp.sum(axis=0).min()}"),
                *embedding_rows(mirror, n_taxa),
                *baseline_rows(mirror, data, signal, n_taxa, Path(tmp)),
                ("reads on novel ASVs: Halfvarson; HMP2", "; ".join(
                    f"{signal['cohorts'][c]['dropped_read_fraction']:.0%}" for c in ("halfvarson", "hmp2")))]
    print(f"toy data, seed {config['toy']['seed']}, {n_taxa} taxa\n")
    print("| quantity | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
