"""The generative model of the toy microbiomes: taxa, hosts, samples and read counts.

Presence of a taxon in a sample is a logistic function of its base prevalence, of the
host's community-module activity (co-occurrence that follows phylum preferences), of the
host's planted phenotype effects (IBD; fruit and vegetable frequency) and of host- and
sample-level noise. Abundances of present taxa are lognormal weights that the same effects
shift, turned into integer reads by a multinomial draw at a lognormal sequencing depth:
heavy-tailed, compositional read counts like DADA2 output.

Everything here works on the *pool* of candidate sequences; vocabulary ids are assigned
afterwards from the simulated prevalence (see :mod:`.mirror`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_MODULES = 5
BASE_SPREAD = 0.9  # sd of the taxon base presence logits
BASE_SKEW = 0.5  # extra upper tail: a few taxa are in most samples, as Bacteroides in stool
MODULE_PRESENCE = 1.0  # logit change per unit of host module activity
MODULE_ABUNDANCE = 0.6  # log-abundance change per unit of host module activity
HOST_TAXON_SD = 0.7  # host-specific presence noise (shared by a host's samples)
SAMPLE_TAXON_SD = 0.8  # sample-specific presence noise
ABUNDANCE_SD = 1.3  # sample-specific log-abundance noise
IBD_PRESENCE_SHIFT = 3.0  # logit, IBD hosts vs controls, on planted IBD taxa (strong enough that a
# transformer finetuned on ~230 toy samples learns it: docs/toy_data.md "The planted signal")
IBD_ABUNDANCE_SHIFT = 2.0  # log abundance, IBD hosts vs controls
DIET_PRESENCE_SHIFT = 0.45  # logit per frequency category away from the middle (2), on diet taxa
DIET_ABUNDANCE_SHIFT = 0.3  # log abundance per frequency category


@dataclass(frozen=True)
class Planted:
    """Direction of the planted phenotype effects per taxon (pool order)."""

    ibd: np.ndarray  # +1 enriched in IBD, -1 depleted, 0 none
    fruit: np.ndarray  # +1 / -1: more / less with higher fruit frequency, 0 none
    vegetable: np.ndarray


@dataclass(frozen=True)
class Taxa:
    """Traits of every pool taxon."""

    base: np.ndarray  # (P,) presence logit before calibration
    log_abundance: np.ndarray  # (P,) mean log weight when present
    loadings: np.ndarray  # (P, N_MODULES) community-module membership


@dataclass(frozen=True)
class Hosts:
    """Host-level phenotypes and community state."""

    ibd: np.ndarray  # (H,) 0/1
    fruit: np.ndarray  # (H,) frequency category 0..4
    vegetable: np.ndarray  # (H,) frequency category 0..4
    modules: np.ndarray  # (H, N_MODULES) module activity


@dataclass(frozen=True)
class Study:
    """How one study (AGP or an external cohort) samples the taxa."""

    taxa_per_sample: float  # expected taxa present per sample
    depth_median: float  # reads per sample
    depth_sd: float  # sd of log depth
    depth_min: int  # samples below this were filtered out upstream
    absent: np.ndarray  # (P,) bool: taxa never seen in this study
    base_shift: np.ndarray  # (P,) study-specific change of base presence logits
    ibd_scale: float = 1.0  # strength of the planted IBD effect in this study


def draw_taxa(rng: np.random.Generator, phyla: list[str]) -> Taxa:
    """Base prevalence, abundance and module membership; modules prefer some phyla."""
    n = len(phyla)
    z = np.clip(rng.normal(0.0, 1.0, n), -2.2, 2.5)
    base = BASE_SPREAD * z + BASE_SKEW * np.maximum(z, 0.0) ** 2
    log_abundance = 0.8 * z + rng.normal(0.0, 1.0, n)
    names = sorted(set(phyla))
    affinity = {p: rng.dirichlet(np.full(N_MODULES, 0.5)) for p in names}
    primary = np.array([rng.choice(N_MODULES, p=affinity[p]) for p in phyla])
    loadings = rng.normal(0.0, 0.15, (n, N_MODULES))
    loadings[np.arange(n), primary] += rng.uniform(0.6, 1.2, n)
    return Taxa(base, log_abundance, loadings)


def frequency_categories(latent: np.ndarray, probabilities: list[float]) -> np.ndarray:
    """Cut a latent score into ordered categories 0..4 with the given proportions."""
    cuts = np.quantile(latent, np.cumsum(probabilities)[:-1])
    return np.searchsorted(cuts, latent).astype(np.int64)


def draw_hosts(rng: np.random.Generator, ibd: np.ndarray, module_shift: np.ndarray | None = None) -> Hosts:
    """Hosts with the given IBD status; diet answers correlate (fruit and vegetable eaters overlap)."""
    n = len(ibd)
    diet = rng.normal(0.0, 1.0, n)
    fruit = frequency_categories(0.8 * diet + 0.6 * rng.normal(0.0, 1.0, n), [0.06, 0.16, 0.28, 0.30, 0.20])
    vegetable = frequency_categories(0.8 * diet + 0.6 * rng.normal(0.0, 1.0, n), [0.02, 0.08, 0.22, 0.35, 0.33])
    modules = rng.normal(0.0, 1.0, (n, N_MODULES))
    if module_shift is not None:
        modules += module_shift
    return Hosts(np.asarray(ibd, dtype=np.int64), fruit, vegetable, modules)


def _calibrate(logits: np.ndarray, target: float) -> float:
    """Intercept that makes the expected number of present taxa per sample equal ``target``."""
    logits = logits[:, np.isfinite(logits).all(axis=0)]
    low, high = -30.0, 30.0
    for _ in range(40):
        mid = (low + high) / 2
        expected = (1.0 / (1.0 + np.exp(-(logits + mid)))).sum(axis=1).mean()
        low, high = (mid, high) if expected < target else (low, mid)
    return (low + high) / 2


def simulate_reads(rng: np.random.Generator, taxa: Taxa, planted: Planted, hosts: Hosts,
                   host_of_sample: np.ndarray, study: Study) -> np.ndarray:
    """Integer read counts (n_samples, n_pool_taxa) of one study."""
    n_hosts, n_taxa = len(hosts.ibd), len(taxa.base)
    module = hosts.modules @ taxa.loadings.T  # (H, P)
    ibd = (hosts.ibd[:, None] * planted.ibd[None, :]) * study.ibd_scale
    diet = (hosts.fruit[:, None] - 2) * planted.fruit + (hosts.vegetable[:, None] - 2) * planted.vegetable
    host_logit = (taxa.base + study.base_shift + MODULE_PRESENCE * module + IBD_PRESENCE_SHIFT * ibd
                  + DIET_PRESENCE_SHIFT * diet + rng.normal(0.0, HOST_TAXON_SD, (n_hosts, n_taxa)))
    logit = host_logit[host_of_sample] + rng.normal(0.0, SAMPLE_TAXON_SD, (len(host_of_sample), n_taxa))
    logit[:, study.absent] = -np.inf
    logit += _calibrate(logit, study.taxa_per_sample)
    present = rng.random(logit.shape) < 1.0 / (1.0 + np.exp(-logit))
    empty = ~present.any(axis=1)
    present[empty, np.argmax(logit[empty], axis=1)] = True
    log_weight = (taxa.log_abundance + MODULE_ABUNDANCE * module[host_of_sample]
                  + IBD_ABUNDANCE_SHIFT * ibd[host_of_sample]
                  + DIET_ABUNDANCE_SHIFT * diet[host_of_sample]
                  + rng.normal(0.0, ABUNDANCE_SD, logit.shape))
    log_weight = np.where(present, log_weight, -np.inf)
    weight = np.exp(log_weight - log_weight.max(axis=1, keepdims=True))
    depth = np.maximum(np.round(np.exp(rng.normal(np.log(study.depth_median), study.depth_sd, len(logit)))),
                       study.depth_min).astype(np.int64)
    return rng.multinomial(depth, weight / weight.sum(axis=1, keepdims=True))
