"""Taxonomy of the vocabulary: DADA2 assignTaxonomy in R (reference 10, assign_16S_to_phyla.R).

taxonomy.reference picks the training set: silva (the paper's SILVA nr v132, from Zenodo),
rdp_gold (Debian's microbiomeutil-data RDP gold set, converted here; offline and toy runs)
or path (any DADA2 training fasta).
"""

TAXONOMY = config["taxonomy"]
TAXONOMY_DIR = Path(TAXONOMY_TABLE).parent
RDP_GOLD_REFERENCE = f"{TAXONOMY_DIR}/reference/rdp_gold_train_set.fa.gz"
SILVA_REFERENCE = f"{TAXONOMY_DIR}/reference/{TAXONOMY['silva']['file']}"

if TAXONOMY["reference"] == "path" and not TAXONOMY["reference_path"]:
    raise ValueError(
        "config key 'taxonomy.reference_path' must be set when taxonomy.reference is 'path'"
    )
TAXONOMY_REFERENCE = {
    "silva": SILVA_REFERENCE,
    "rdp_gold": RDP_GOLD_REFERENCE,
    "path": TAXONOMY["reference_path"],
}[TAXONOMY["reference"]]


if TAXONOMY["reference"] == "silva":

    # Downloads run where snakemake runs (compute nodes often have no internet).
    localrules:
        fetch_silva_reference,

    rule fetch_silva_reference:
        output:
            (
                ensure(SILVA_REFERENCE, md5=TAXONOMY["silva"]["md5"])
                if TAXONOMY["silva"]["md5"]
                else SILVA_REFERENCE
            ),
        log:
            f"{LOGS}/taxonomy/fetch_silva_reference.log",
        retries: 2
        conda:
            "../envs/python.yaml"
        params:
            api=config["data"]["zenodo"]["api_url"],
            record=TAXONOMY["silva"]["record_id"],
            name=TAXONOMY["silva"]["file"],
            retry=retry_flags(),
        shell:
            "python -m microbiome_lm fetch zenodo --api-url {params.api} --record {params.record} --name {params.name}"
            " --out {output} {params.retry} > {log} 2>&1"


rule rdp_reference:
    output:
        RDP_GOLD_REFERENCE,
    log:
        f"{LOGS}/taxonomy/rdp_reference.log",
    benchmark:
        f"{BENCH}/rdp_reference.tsv"
    conda:
        "../envs/python.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        gold=TAXONOMY["rdp_gold_fasta"],
    shell:
        "python -m microbiome_lm rdp-reference --gold {params.gold} --out {output} > {log} 2>&1"


rule taxonomy:
    input:
        fasta=raw("dryad", "seqs_.07_embed.fasta"),
        reference=TAXONOMY_REFERENCE,
    output:
        table=TAXONOMY_TABLE,
        summary=report(
            f"{TAXONOMY_DIR}/taxonomy_summary.tsv",
            caption="../report/taxonomy_summary.rst",
            category="Interpretability",
            subcategory="Taxonomy",
        ),
    log:
        f"{LOGS}/taxonomy/taxonomy.log",
    benchmark:
        f"{BENCH}/taxonomy.tsv"
    conda:
        "../envs/r.yaml"
    threads: config["threads"]
    resources:
        # SILVA's 600k-sequence training set needs several GB in assignTaxonomy.
        mem_mb=16000 if TAXONOMY["reference"] == "silva" else 2000,
        runtime=240 if TAXONOMY["reference"] == "silva" else 15,
    params:
        config=config_json("threads", "taxonomy"),
    shell:
        "python -m microbiome_lm taxonomy --config-json {params.config:q} --fasta {input.fasta}"
        " --reference {input.reference} --out {output.table} --summary {output.summary}"
        " --threads {threads} > {log} 2>&1"


TARGETS.extend(rules.taxonomy.output)
