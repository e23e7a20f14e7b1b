"""The toy world: AGP hosts and samples, the vocabulary they define, and two shifted cohorts.

Order of events mirrors the real data's history: AGP samples are simulated first; the
vocabulary is the ``n_taxa`` most prevalent ASVs, in GloVe ``vocab_count`` order
(descending occurrence, ties by the sequence string); rarer AGP ASVs stay in the sequence
table only (the published table is the unfiltered one, reference 13 #27). The cohorts are
then simulated with their own prevalences, depths and missing taxa, and with novel ASVs
whose reads are lost when mapping onto the vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...core.errors import ConfigError
from ..toy_16s import Fragment
from .cohort_asvs import cohort_asvs, far_from
from .community import N_MODULES, Hosts, Planted, Study, draw_hosts, draw_taxa, simulate_reads

RARE_FRACTION = 0.125  # AGP ASVs beyond the vocabulary, per vocabulary taxon
IBD_PREVALENCE = 0.28  # share of AGP hosts with IBD (the real AGP has ~5 %)
ANSWERED = {"IBD": 0.6, "FRUIT_FREQUENCY": 0.7, "VEGETABLE_FREQUENCY": 0.7}  # hosts with an answer
PLANTED_BAND = (0.03, 0.25)  # planted taxa come from this quantile band of base prevalence
TAXA_PER_IBD_TAXON = 36  # one IBD-enriched and one IBD-depleted taxon per 36 vocabulary taxa (8 + 8 of 300)
TAXA_PER_DIET_TAXON = 150  # one rising and one falling taxon per diet answer per 150 (2 + 2 of 300)
MIN_SPARE = 10  # 16S fragments kept aside as candidate novel cohort ASVs
AGP_DEPTH = (25_000, 0.55, 5_001)  # median, sd of log, minimum (samples > 5000 reads were kept)


@dataclass(frozen=True)
class CohortSpec:
    """How an external cohort differs from AGP."""

    prefix: str
    ibd_fraction: float  # real cohorts: 510/564 and 155/197
    absent_fraction: float  # vocabulary taxa never seen in the cohort
    novel_fraction: float  # novel ASVs, per vocabulary taxon
    ibd_scale: float  # planted IBD effect relative to AGP
    depth: tuple[float, float, int]
    taxa_factor: float  # taxa per sample relative to AGP
    base_shift_sd: float  # study-specific prevalence changes
    kind_probabilities: tuple[float, float, float]  # identical, trimmed, 1-mismatch ASVs


COHORTS = {
    "halfvarson": CohortSpec("halfvarson", 510 / 564, 0.10, 0.10, 0.6, (45_000, 0.5, 2_000), 1.1, 0.6,
                             (0.70, 0.15, 0.15)),
    "hmp2": CohortSpec("hmp2", 155 / 197, 0.25, 0.2, 0.5, (12_000, 0.7, 2_000), 0.8, 0.8,
                       (0.55, 0.25, 0.20)),
}


@dataclass
class Cohort:
    counts: np.ndarray  # (n, n_taxa) reads per vocabulary id (novel ASVs dropped)
    labels: np.ndarray  # (n,) IBD 0/1
    asvs: list[dict]  # cohort_asvs records
    absent: list[int]  # vocabulary ids never present
    dropped_reads: float  # share of reads on novel ASVs


@dataclass
class World:
    vocab: list[str]
    lineages: list[tuple[str, ...]]
    counts: np.ndarray  # (n_samples, n_taxa) AGP reads per vocabulary id
    rare_sequences: list[str]  # AGP ASVs outside the vocabulary
    rare_counts: np.ndarray  # (n_samples, n_rare)
    host_of_sample: np.ndarray
    hosts: Hosts
    answered: dict[str, np.ndarray]  # per host
    planted: dict[str, list[int]]  # vocabulary ids, by set (see _planted_sets)
    cohorts: dict[str, Cohort]


def _planted_sets(rng: np.random.Generator, base: np.ndarray, members: np.ndarray, n_taxa: int) -> dict:
    """Disjoint planted taxa (pool indices) from the fairly prevalent band of ``members``.

    Diet taxa are split into ones that rise and ones that fall with the answer category.
    """
    ranked = members[np.argsort(-base[members], kind="stable")]
    n_ibd, n_diet = max(2, n_taxa // TAXA_PER_IBD_TAXON), max(2, n_taxa // TAXA_PER_DIET_TAXON)
    sizes = {"ibd_enriched": n_ibd, "ibd_depleted": n_ibd, "fruit_up": n_diet, "fruit_down": n_diet,
             "vegetable_up": n_diet, "vegetable_down": n_diet}
    start = int(PLANTED_BAND[0] * len(ranked))
    band = ranked[start: max(int(PLANTED_BAND[1] * len(ranked)), start + sum(sizes.values()))]
    chosen = iter(rng.choice(band, size=sum(sizes.values()), replace=False))
    return {name: np.array([next(chosen) for _ in range(size)]) for name, size in sizes.items()}


def _exact_share(rng: np.random.Generator, n: int, share: float) -> np.ndarray:
    """0/1 vector with exactly round(share * n) ones, in random order."""
    out = np.zeros(n, dtype=np.int64)
    out[: int(round(share * n))] = 1
    return rng.permutation(out)


def _answered(rng: np.random.Generator, ibd: np.ndarray, share: float) -> np.ndarray:
    """Hosts that answered a question: the same share of IBD hosts and controls."""
    answered = np.zeros(len(ibd), dtype=bool)
    for group in (ibd == 1, ibd == 0):
        answered[group] = _exact_share(rng, int(group.sum()), share).astype(bool)
    return answered


def _effects(n_pool: int, sets: dict) -> Planted:
    vectors = {name: np.zeros(n_pool) for name in ("ibd", "fruit", "vegetable")}
    for name, members in sets.items():
        trait, direction = name.rsplit("_", 1)
        vectors[trait][members] = 1.0 if direction in ("enriched", "up") else -1.0
    return Planted(**vectors)


def simulate_world(toy: dict, pool: list[Fragment]) -> World:
    """Simulate every sample of the mirror from ``toy`` (the config section) and the 16S pool."""
    rng = np.random.default_rng(toy["seed"])
    n_taxa = toy["n_taxa"]
    n_agp = n_taxa + int(round(RARE_FRACTION * n_taxa))
    if n_agp + MIN_SPARE > len(pool):
        raise ConfigError("configuration", f"toy.n_taxa={n_taxa} needs {n_agp + MIN_SPARE} 16S sequences (with "
                                           f"rare and novel ASVs) but resources/toy_16s has {len(pool)}")
    sequences = [f.sequence for f in pool]
    order = rng.permutation(len(pool))
    agp_members, spare = np.sort(order[:n_agp]), order[n_agp:]
    taxa = draw_taxa(rng, [f.phylum for f in pool])
    sets = _planted_sets(rng, taxa.base, agp_members, n_taxa)
    effects = _effects(len(pool), sets)

    n_hosts = toy["n_hosts"]
    hosts = draw_hosts(rng, _exact_share(rng, n_hosts, IBD_PREVALENCE))
    host_of_sample = np.repeat(np.arange(n_hosts), rng.integers(1, toy["max_samples_per_host"] + 1, n_hosts))
    not_agp = np.ones(len(pool), dtype=bool)
    not_agp[agp_members] = False
    agp = Study(toy["taxa_per_sample"], *AGP_DEPTH, absent=not_agp, base_shift=np.zeros(len(pool)))
    reads = simulate_reads(rng, taxa, effects, hosts, host_of_sample, agp)

    prevalence = (reads[:, agp_members] > 0).sum(axis=0)
    ranked = agp_members[np.lexsort((np.array(sequences, dtype=object)[agp_members], -prevalence))]
    if np.sort(prevalence)[-n_taxa] == 0:
        raise ConfigError("configuration", f"only {int((prevalence > 0).sum())} ASVs occur in the toy AGP samples, "
                                           f"fewer than toy.n_taxa={n_taxa}; raise toy.n_hosts or toy.taxa_per_sample")
    vocab_pool, rare_pool = ranked[:n_taxa], ranked[n_taxa:]
    rare_pool = rare_pool[reads[:, rare_pool].sum(axis=0) > 0]
    vocab_of_pool = np.full(len(pool), -1)
    vocab_of_pool[vocab_pool] = np.arange(n_taxa)
    planted = {name: sorted(int(vocab_of_pool[i]) for i in members) for name, members in sets.items()}
    if any(i < 0 for ids in planted.values() for i in ids):
        raise ConfigError("configuration", "a planted taxon is too rare for the vocabulary at these toy sizes; "
                                           "raise toy.n_hosts or change toy.seed")

    vocab = [sequences[i] for i in vocab_pool]
    novel_pool = spare[far_from([sequences[i] for i in spare], [sequences[i] for i in agp_members])]
    planted_pool = np.concatenate(list(sets.values()))
    cohorts = {}
    for name, spec in COHORTS.items():
        n = toy["n_halfvarson"] if name == "halfvarson" else toy["n_hmp2"]
        cohorts[name] = _simulate_cohort(rng, spec, n, toy["taxa_per_sample"], taxa, effects, vocab_pool,
                                         novel_pool, planted_pool, vocab, sequences)
    return World(
        vocab=vocab,
        lineages=[pool[i].lineage for i in vocab_pool],
        counts=reads[:, vocab_pool],
        rare_sequences=[sequences[i] for i in rare_pool],
        rare_counts=reads[:, rare_pool],
        host_of_sample=host_of_sample,
        hosts=hosts,
        answered={k: _answered(rng, hosts.ibd, share) for k, share in ANSWERED.items()},
        planted=planted,
        cohorts=cohorts,
    )


def _simulate_cohort(rng, spec: CohortSpec, n: int, taxa_per_sample: float, taxa, effects, vocab_pool,
                     novel_pool, planted_pool, vocab: list[str], sequences: list[str]) -> Cohort:
    n_pool = len(sequences)
    candidates = np.setdiff1d(vocab_pool, planted_pool)
    absent_vocab = rng.choice(candidates, size=int(round(spec.absent_fraction * len(vocab_pool))), replace=False)
    n_novel = min(len(novel_pool), int(round(spec.novel_fraction * len(vocab_pool))))
    novel = np.sort(rng.choice(novel_pool, size=n_novel, replace=False))
    present = np.zeros(n_pool, dtype=bool)
    present[vocab_pool] = True
    present[novel] = True
    present[absent_vocab] = False
    study = Study(taxa_per_sample * spec.taxa_factor, *spec.depth, absent=~present,
                  base_shift=rng.normal(0.0, spec.base_shift_sd, n_pool), ibd_scale=spec.ibd_scale)
    labels = _exact_share(rng, n, spec.ibd_fraction)
    hosts = draw_hosts(rng, labels, module_shift=rng.normal(0.0, 0.5, N_MODULES))
    reads = simulate_reads(rng, taxa, effects, hosts, np.arange(n), study)
    counts = reads[:, vocab_pool]
    asvs = cohort_asvs(rng, vocab, counts.sum(axis=0), [sequences[i] for i in novel],
                       reads[:, novel].sum(axis=0), list(spec.kind_probabilities), spec.prefix)
    vocab_of_pool = {int(p): i for i, p in enumerate(vocab_pool)}
    return Cohort(counts=counts, labels=labels, asvs=asvs,
                  absent=sorted(vocab_of_pool[int(p)] for p in absent_vocab),
                  dropped_reads=float(reads[:, novel].sum() / reads.sum()))
