"""BLAST overlap of the external cohorts' ASVs with the AGP vocabulary (reference 10)."""

BLAST_DIR = f"{OUT}/blast"
# Cohort name -> its ASV fasta (halfvarson_asvs.fasta -> halfvarson).
BLAST_COHORTS = {
    Path(name).name.removesuffix("_asvs.fasta"): raw("cohorts", name)
    for name in config["data"]["cohorts"]["files"]
}


rule blast_overlap:
    input:
        vocab=raw("dryad", "seqs_.07_embed.fasta"),
        cohorts=list(BLAST_COHORTS.values()),
    output:
        pairs=report(
            f"{BLAST_DIR}/blast_pairs.tsv",
            caption="../report/blast_pairs.rst",
            category="Cross-study overlap",
            subcategory="BLAST",
        ),
        summary=report(
            f"{BLAST_DIR}/blast_summary.tsv",
            caption="../report/blast_summary.rst",
            category="Cross-study overlap",
            subcategory="BLAST",
        ),
        figure=report(
            f"{BLAST_DIR}/blast_overlap.png",
            caption="../report/blast_overlap.rst",
            category="Cross-study overlap",
            subcategory="BLAST",
        ),
    log:
        f"{LOGS}/blast_overlap.log",
    benchmark:
        f"{BENCH}/blast_overlap.tsv"
    conda:
        "../envs/blast.yaml"
    threads: config["threads"]
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        config=config_json("threads", "blast"),
        cohorts=" ".join(
            f"--cohort {name}={path}" for name, path in BLAST_COHORTS.items()
        ),
    shell:
        "python -m microbiome_lm blast-overlap --config-json {params.config:q} --vocab-fasta {input.vocab}"
        " {params.cohorts} --pairs {output.pairs} --summary {output.summary} --figure {output.figure}"
        " --threads {threads} > {log} 2>&1"


TARGETS.extend(rules.blast_overlap.output)
