"""AGP host metadata files: ``err-to-qid.txt``, ``AG_mapping.txt`` and the DADA2 sequence table.

Formats follow what the host step reads (reference Appendix A): ENA run accessions map to
AGP sample titles (``10317.<9-digit barcode>``, Qiita study 10317), which map to hosts; the
questionnaire answers use the American Gut wording that the Tataru & David scripts decode
(``helper_functions.makeMappingNumeric``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MISSING = "Unspecified"
FREQUENCY_ANSWERS = (  # category 0..4, the encoding of *_all_label.npy
    "Never",
    "Rarely (a few times/month)",
    "Occasionally (1-2 times/week)",
    "Regularly (3-5 times/week)",
    "Daily",
)
IBD_NEGATIVE = "I do not have this condition"
IBD_POSITIVE = (  # all three count as IBD (label 1)
    "Diagnosed by a medical professional (doctor, physician assistant)",
    "Self-diagnosed",
    "Diagnosed by an alternative medicine practitioner",
)
IBD_POSITIVE_SHARES = (0.85, 0.1, 0.05)


@dataclass(frozen=True)
class SampleIds:
    """Identifiers of AGP samples (those in the sequence table, then the ones filtered out)."""

    runs: list[str]  # ERR run accessions
    titles: list[str]  # AGP sample ids, = #SampleID of AG_mapping.txt
    host_ids: list[str]  # per host (not per sample)


def _unique_numbers(rng: np.random.Generator, n: int, low: int, span: int) -> np.ndarray:
    """``n`` distinct integers from ``[low, low + span)`` (span grows with ``n`` to stay sparse)."""
    return low + rng.choice(max(span, 20 * n), size=n, replace=False)


def draw_ids(rng: np.random.Generator, n_samples: int, n_hosts: int) -> SampleIds:
    """Random, unique, realistically formatted accessions, sample titles and host ids."""
    runs = [f"ERR{n:07d}" for n in _unique_numbers(rng, n_samples, 1_000_000, 2_000_000)]
    titles = [f"10317.{n:09d}" for n in _unique_numbers(rng, n_samples, 1_000, 89_000)]
    hosts = [rng.bytes(16).hex().upper() for _ in range(n_hosts)]
    return SampleIds(runs, titles, hosts)


def _table(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join("\t".join(r) for r in [header] + rows) + "\n"


def err_to_qid(ids: SampleIds, rng: np.random.Generator) -> str:
    """ENA file report: run_accession, sample_accession, experiment_accession, sample_title."""
    n = len(ids.runs)
    samples = _unique_numbers(rng, n, 1_000_000, 2_000_000)
    experiments = _unique_numbers(rng, n, 1_000_000, 2_000_000)
    rows = [[run, f"ERS{s:07d}", f"ERX{e:07d}", title]
            for run, s, e, title in zip(ids.runs, samples, experiments, ids.titles)]
    order = np.argsort(ids.runs)
    return _table(["run_accession", "sample_accession", "experiment_accession", "sample_title"],
                  [rows[i] for i in order])


def ag_mapping(ids: SampleIds, host_of_sample: np.ndarray, answers: dict[str, list[str]],
               rng: np.random.Generator) -> str:
    """QIIME mapping file: one row per sample, answers given per host."""
    n = len(ids.titles)
    sex = rng.choice(["female", "male"], size=len(ids.host_ids))
    age = rng.integers(18, 80, size=len(ids.host_ids))
    header = ["#SampleID", "BODY_SITE", "HMP_SITE", "HOST_SUBJECT_ID", "SEX", "AGE_YEARS", "IBD",
              "FRUIT_FREQUENCY", "VEGETABLE_FREQUENCY", "Description"]
    rows = []
    for i in range(n):
        h = host_of_sample[i]
        rows.append([ids.titles[i], "UBERON:feces", "FECAL", ids.host_ids[h], str(sex[h]), str(age[h]),
                     answers["IBD"][h], answers["FRUIT_FREQUENCY"][h], answers["VEGETABLE_FREQUENCY"][h],
                     "American Gut Project Stool sample"])
    order = np.argsort(ids.titles)
    return _table(header, [rows[i] for i in order])


def ibd_answers(rng: np.random.Generator, ibd: np.ndarray, answered: np.ndarray) -> list[str]:
    """Questionnaire text per host; unanswered hosts say ``Unspecified``."""
    positive = rng.choice(len(IBD_POSITIVE), size=len(ibd), p=IBD_POSITIVE_SHARES)
    return [MISSING if not a else (IBD_POSITIVE[p] if y else IBD_NEGATIVE)
            for y, a, p in zip(ibd, answered, positive)]


def frequency_answers(categories: np.ndarray, answered: np.ndarray) -> list[str]:
    return [FREQUENCY_ANSWERS[c] if a else MISSING for c, a in zip(categories, answered)]


def seqtab(runs: list[str], sequences: list[str], counts: np.ndarray) -> str:
    """DADA2 sequence table as R's ``write.table(seqtab, sep="\\t", quote=FALSE)`` writes it.

    The header holds only the column names (no field above the row names), each row starts
    with its run accession; columns are ASV sequences, rows samples, values read counts.
    """
    lines = ["\t".join(sequences)]
    lines += [run + "\t" + "\t".join(map(str, row)) for run, row in zip(runs, counts.tolist())]
    return "\n".join(lines) + "\n"
