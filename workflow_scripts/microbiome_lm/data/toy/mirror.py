"""Write the toy mirror: every published file, laid out as ``dryad/ zenodo/ agp_metadata/ cohorts/``.

The output folder is built in a temporary sibling and renamed into place only when every
file is written, so a failure leaves nothing behind. The same config gives byte-identical
files.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import numpy as np

from ...core.atomic import atomic_dir
from ...core.errors import ConfigError, InputError
from .. import layout
from ..toy_16s import RESOURCE_DIR, load_toy_16s
from . import checkpoints as ckpt
from . import community, metadata
from .archive import coordinate_rows, labels_array, npy_bytes, top_rows, write_zip
from .embeddings import PathwayTable, pathway_table, vocab_embeddings
from .readmes import dryad_readme, microbiomedata_readme
from .simulate import COHORTS, World, simulate_world

log = logging.getLogger(__name__)

TEST_FRACTION = 0.15  # make_glove_input.py: random.random() > 0.15 goes to train
IBD_TEST_HOSTS = 0.2  # share of total_IBD hosts in IBD_test
DROPPED_FRACTION = 0.02  # runs in the metadata but filtered out of the sequence table (< 5000 reads)


def generate_toy_mirror(out_dir: str | Path, config: dict, checkpoints_dir: str | Path | None = None,
                        resource_dir: str | Path = RESOURCE_DIR) -> dict:
    """Write the mirror for the validated ``config`` (sections toy, model, encoding) into ``out_dir``.

    ``checkpoints_dir`` optionally holds trained ``pretrainedmodels/<name>/`` and
    ``ensemble/<name>/`` folders that are packed instead of random weights. Returns the
    planted-signal summary (also written to ``planted_signal.json``).
    """
    toy = config["toy"]
    if checkpoints_dir is not None:
        _check_checkpoint_dir(Path(checkpoints_dir))
    configs = _checkpoint_configs(config)
    world = simulate_world(toy, load_toy_16s(resource_dir))
    widest = int(max((world.counts > 0).sum(axis=1).max(),
                     *((c.counts > 0).sum(axis=1).max() for c in world.cohorts.values())))
    if widest > toy["full_width"]:
        raise ConfigError("configuration", f"a toy sample has {widest} taxa, more than toy.full_width "
                                           f"({toy['full_width']}); raise it or lower toy.taxa_per_sample")
    rng = np.random.default_rng([toy["seed"], 1])
    ids = metadata.draw_ids(rng, len(world.counts) + int(round(DROPPED_FRACTION * len(world.counts))),
                            len(world.hosts.ibd))
    dropped_hosts = rng.integers(0, len(world.hosts.ibd), len(ids.runs) - len(world.counts))
    host_of_run = np.concatenate([world.host_of_sample, dropped_hosts])
    by_title = np.argsort(ids.titles[: len(world.counts)])
    train = rng.random(len(world.counts)) > TEST_FRACTION  # per sample, in title order
    embeddings = vocab_embeddings(rng, world.vocab, world.counts[by_title][train] > 0, toy["embedding_dim"])
    pathways = pathway_table(rng, embeddings, [lineage[1] for lineage in world.lineages])

    with atomic_dir(out_dir) as tmp, tempfile.TemporaryDirectory() as staging:
        dryad = tmp / "dryad"
        dryad.mkdir()
        np.save(dryad / "vocab_embeddings.npy", embeddings)
        (dryad / "seqs_.07_embed.fasta").write_text(
            "".join(f">embed{i + 1}\n{seq}\n" for i, seq in enumerate(world.vocab)))
        members, split = _microbiomedata(world, toy, by_title, train, rng)
        write_zip(dryad / "microbiomedata.zip", members)
        packed = _write_checkpoints(dryad, configs, checkpoints_dir, Path(staging), rng)
        (dryad / "README.md").write_text(dryad_readme(toy["seed"], toy["n_taxa"], len(world.counts)))
        (tmp / "zenodo").mkdir()
        write_zip(tmp / "zenodo" / "property_pathway_correlations.zip",
                  {layout.PATHWAY_TABLE_MEMBER: _pathway_text(pathways).encode()})
        _write_agp_metadata(tmp / "agp_metadata", world, ids, host_of_run, rng)
        (tmp / "cohorts").mkdir()
        for name, cohort in world.cohorts.items():
            (tmp / "cohorts" / f"{name}_asvs.fasta").write_text(
                "".join(f">{a['name']}\n{a['sequence']}\n" for a in cohort.asvs))
        signal = _planted_signal(toy, world, pathways, split, packed)
        (tmp / "planted_signal.json").write_text(json.dumps(signal, indent=2, sort_keys=True) + "\n")
    log.info("toy mirror written to %s (%d AGP samples, %d taxa)", out_dir, len(world.counts), toy["n_taxa"])
    return signal


def _microbiomedata(world: World, toy: dict, by_title: np.ndarray, train: np.ndarray,
                    rng: np.random.Generator) -> tuple[dict[str, bytes], dict]:
    """Members of microbiomedata.zip; AGP rows in sample-title order (as the Tataru scripts sort)."""
    full, top = toy["full_width"], toy["top_width"]
    counts = world.counts[by_title]
    host = world.host_of_sample[by_title]
    members: dict[str, bytes] = {"README": microbiomedata_readme().encode()}

    def put(names: tuple[str, str], rows: np.ndarray, labels: dict[str, np.ndarray] | None = None) -> None:
        wide = coordinate_rows(rows, full)
        members[names[0]], members[names[1]] = npy_bytes(wide), npy_bytes(top_rows(wide, top))
        for name, values in (labels or {}).items():
            members[name] = npy_bytes(labels_array(values))

    put(("train_encodings_1897.npy", "train_encodings_512.npy"), counts[train])
    put(("test_encodings_1897.npy", "test_encodings_512.npy"), counts[~train])
    ibd_rows = world.answered["IBD"][host]
    ibd_labels = world.hosts.ibd[host[ibd_rows]]
    put(("total_IBD_otu.npy", "total_IBD_512.npy"), counts[ibd_rows], {"total_IBD_label.npy": ibd_labels})
    ibd_hosts = np.unique(host[ibd_rows])
    test_hosts = rng.choice(ibd_hosts, size=int(round(IBD_TEST_HOSTS * len(ibd_hosts))), replace=False)
    in_test = np.isin(host[ibd_rows], test_hosts)
    for part, mask in (("train", ~in_test), ("test", in_test)):
        put((f"IBD_{part}_otu.npy", f"IBD_{part}_512.npy"), counts[ibd_rows][mask],
            {f"IBD_{part}_label.npy": ibd_labels[mask]})
    for folder, question, categories in (("fruitdata", "FRUIT_FREQUENCY", world.hosts.fruit),
                                         ("vegdata", "VEGETABLE_FREQUENCY", world.hosts.vegetable)):
        rows = world.answered[question][host]
        category = categories[host[rows]]
        prefix = f"{folder}/{question}"
        put((f"{prefix}_all_otu.npy", f"{prefix}_otu_512.npy"), counts[rows], {
            f"{prefix}_all_label.npy": category,
            f"{prefix}_binary24_labels.npy": category >= 2,
            f"{prefix}_binary34_labels.npy": category >= 3,
        })
    for name, stem, label_name in (("halfvarson", "halfvarson", "halfvarson_IBD_labels.npy"),
                                   ("hmp2", "schirmer_IBD", "schirmer_IBD_labels.npy")):
        cohort = world.cohorts[name]
        stems = (f"{stem}_otu.npy", f"{stem}_512_otu.npy")
        put(stems, cohort.counts, {label_name: cohort.labels})
    split = {"total_IBD_samples": int(ibd_rows.sum()), "total_IBD_positive": int(ibd_labels.sum()),
             "IBD_test_samples": int(in_test.sum()), "train_encodings": int(train.sum()),
             "test_encodings": int((~train).sum())}
    return members, split


def _check_checkpoint_dir(folder: Path) -> None:
    """Fail early on a missing folder; warn about sub-folders that match no published name."""
    groups = [g for g in ckpt.GROUPS if (folder / g).is_dir()]
    if not folder.is_dir() or not groups:
        raise InputError(folder, f"expected a folder holding {' and/or '.join(ckpt.GROUPS)}/ sub-folders")
    for group in groups:
        unknown = sorted(p.name for p in (folder / group).iterdir() if p.name not in ckpt.GROUPS[group])
        if unknown:
            log.warning("%s: ignoring %s (not published checkpoint names)", folder / group, ", ".join(unknown))


def _checkpoint_configs(config: dict) -> dict[str, dict]:
    """config.json content per group: vocabulary + MASK/CLS/PAD, toy embedding width, CLS + max_taxa positions."""
    dims = dict(model=config["model"], vocab_size=config["toy"]["n_taxa"] + 3,
                embedding_size=config["toy"]["embedding_dim"],
                max_positions=config["encoding"]["max_taxa"] + 1)
    return {"pretrainedmodels": ckpt.electra_config(**dims, classifier=False),
            "ensemble": ckpt.electra_config(**dims, classifier=True)}


def _write_checkpoints(dryad: Path, configs: dict[str, dict], checkpoints_dir, staging: Path,
                       rng: np.random.Generator) -> dict[str, list[str]]:
    """pretrainedmodels.zip and ensemble.zip; returns which folders came from ``checkpoints_dir``."""
    states = ckpt.random_checkpoints(rng, configs["pretrainedmodels"], configs["ensemble"])
    packed: dict[str, list[str]] = {}
    for group, names in ckpt.GROUPS.items():
        members: dict[str, bytes] = {}
        packed[group] = []
        for name in names:
            real = Path(checkpoints_dir) / group / name if checkpoints_dir is not None else None
            if real is not None and real.is_dir():
                _check_dimensions(real, configs[group])
                files = ckpt.real_checkpoint(real, staging / group)
                packed[group].append(name)
            else:
                files = {"config.json": ckpt.config_json(configs[group]),
                         "pytorch_model.bin": ckpt.save_state(states[group][name],
                                                              staging / group / name / "pytorch_model.bin")}
            members.update({f"{name}/{file}": data for file, data in files.items()})
        write_zip(dryad / f"{group}.zip", members)
    return packed


SHAPE_KEYS = ("architectures", "vocab_size", "embedding_size", "hidden_size", "num_hidden_layers",
              "num_attention_heads", "intermediate_size", "max_position_embeddings")


def _check_dimensions(folder: Path, expected: dict) -> None:
    """A trained checkpoint must fit the toy configuration it is packed with."""
    path = folder / "config.json"
    try:
        found = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(path, f"not a readable JSON config ({err})") from err
    wrong = [f"{k} {found.get(k)!r} (toy config: {expected[k]!r})" for k in SHAPE_KEYS if found.get(k) != expected[k]]
    if wrong:
        raise InputError(path, "does not fit the toy configuration: " + ", ".join(wrong) +
                         "; set toy.checkpoints to null or rebuild them with `make toy-checkpoints`")


def _pathway_text(pathways: PathwayTable) -> str:
    """Tab-separated 0/1 table; R ``write.table`` style (the header lists the pathway ids only)."""
    lines = ["\t".join(pathways.pathways)]
    lines += [f"embed{taxon + 1}\t" + "\t".join(map(str, row)) for taxon, row in
              zip(pathways.taxa.tolist(), pathways.table.tolist())]
    return "\n".join(lines) + "\n"


def _write_agp_metadata(folder: Path, world: World, ids: metadata.SampleIds, host_of_run: np.ndarray,
                        rng: np.random.Generator) -> None:
    folder.mkdir()
    hosts = world.hosts
    answers = {"IBD": metadata.ibd_answers(rng, hosts.ibd, world.answered["IBD"]),
               "FRUIT_FREQUENCY": metadata.frequency_answers(hosts.fruit, world.answered["FRUIT_FREQUENCY"]),
               "VEGETABLE_FREQUENCY": metadata.frequency_answers(hosts.vegetable,
                                                                 world.answered["VEGETABLE_FREQUENCY"])}
    (folder / "err-to-qid.txt").write_text(metadata.err_to_qid(ids, rng))
    (folder / "AG_mapping.txt").write_text(metadata.ag_mapping(ids, host_of_run, answers, rng))
    n = len(world.counts)
    table = np.hstack([world.counts, world.rare_counts])
    sequences = world.vocab + world.rare_sequences
    columns = np.lexsort((np.array(sequences, dtype=object), -table.sum(axis=0)))  # DADA2: by abundance
    rows = np.argsort(ids.runs[:n])
    (folder / "seqtab_final_filter.07.txt").write_text(
        metadata.seqtab([ids.runs[i] for i in rows], [sequences[c] for c in columns], table[rows][:, columns]))


def _planted_signal(toy: dict, world: World, pathways: PathwayTable, split: dict,
                    packed: dict[str, list[str]]) -> dict:
    """Ground truth for later tests (vocabulary ids and embedding dimensions are 0-based)."""
    planted = world.planted
    diet = {"presence_logit_shift_per_category": community.DIET_PRESENCE_SHIFT,
            "log_abundance_shift_per_category": community.DIET_ABUNDANCE_SHIFT}
    return {
        "seed": toy["seed"],
        "toy_config": toy,
        "sizes": {"n_taxa": toy["n_taxa"], "agp_samples": int(len(world.counts)),
                  "agp_hosts": int(len(world.hosts.ibd)), "rare_agp_asvs": len(world.rare_sequences),
                  **split, **{f"{k}_samples": int(len(c.labels)) for k, c in world.cohorts.items()}},
        "ibd": {"enriched": planted["ibd_enriched"], "depleted": planted["ibd_depleted"],
                "presence_logit_shift": community.IBD_PRESENCE_SHIFT,
                "log_abundance_shift": community.IBD_ABUNDANCE_SHIFT,
                "host_prevalence": float(world.hosts.ibd.mean())},
        "fruit": {"up": planted["fruit_up"], "down": planted["fruit_down"], **diet},
        "vegetable": {"up": planted["vegetable_up"], "down": planted["vegetable_down"], **diet},
        "pathways": {"embedding_linked": pathways.embedding_linked, "phylum_linked": pathways.phylum_linked,
                     "constant": pathways.constant, "noise": pathways.noise,
                     "annotated_taxa": int(len(pathways.taxa))},
        "cohorts": {name: {"ibd_prevalence": float(c.labels.mean()), "ibd_effect_scale": COHORTS[name].ibd_scale,
                           "absent_taxa": c.absent, "dropped_read_fraction": round(c.dropped_reads, 6),
                           "asvs": [{k: a[k] for k in ("name", "vocab_id", "kind")} for a in c.asvs]}
                    for name, c in world.cohorts.items()},
        "real_checkpoints": packed,
    }
