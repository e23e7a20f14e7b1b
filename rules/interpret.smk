"""Interpretation of the IBD ensemble (reference 10, 13 #24): attributions, their ranking,
averaged contextual embeddings (AVG_CONTEXTUAL_EMBEDDINGS) and the embedding-space figures.

Members come from ensemble_member_dirs() and the pretrained discriminator from
pretrained_discriminator(); both are looked up when the DAG is built (input functions), so
the order of the include lines does not matter.
"""

INTERPRET = config["interpret"]
INTERPRET_DIR = f"{OUT}/interpret"
INTERPRET_REPORT = "Interpretation (reference 10)"
INTERPRET_GPU = 0 if config["device"] == "cpu" else 1
INTERPRET_CONFIG = config_json(
    "seed", "device", "threads", "encoding", "model", "interpret"
)
AGP_TASK = config["tasks"][INTERPRET["agp_task"]]
INTERPRET_COHORTS = {
    "agp": (microbiomedata(AGP_TASK["samples"]), microbiomedata(AGP_TASK["labels"])),
    **{
        name: (
            microbiomedata(config["cohorts"][name]["samples"]),
            microbiomedata(config["cohorts"][name]["labels"]),
        )
        for name in INTERPRET["external_cohorts"]
    },
}
USES_PRETRAINED = INTERPRET["contextual"]["model"] == "pretrained"
VOCAB_EMBEDDINGS = raw("dryad", "vocab_embeddings.npy")
ATTRIBUTIONS = f"{INTERPRET_DIR}/attributions.tsv"
EMBEDDING_STATS = f"{INTERPRET_DIR}/embedding_statistics.tsv"


rule interpret_attribution:
    """Feature ablation and integrated gradients of the ensemble's p(IBD), every cohort."""
    input:
        members=lambda w: ensemble_member_inputs(),
        vocab=VOCAB_EMBEDDINGS,
        cohorts=[path for pair in INTERPRET_COHORTS.values() for path in pair],
    output:
        ATTRIBUTIONS,
    log:
        f"{LOGS}/interpret/attribution.log",
    benchmark:
        f"{BENCH}/interpret_attribution.tsv"
    conda:
        "../envs/python.yaml"
    threads: config["threads"]
    resources:
        gpu=INTERPRET_GPU,
        mem_mb=4000,
        runtime=240,
    params:
        config=INTERPRET_CONFIG,
        members=lambda w: " ".join(ensemble_member_dirs()),
        cohorts=" ".join(
            f"--cohort {name} {samples} {labels}"
            for name, (samples, labels) in INTERPRET_COHORTS.items()
        ),
    shell:
        "python -m microbiome_lm attribute --config-json {params.config:q}"
        " --members {params.members} --vocab-embeddings {input.vocab} {params.cohorts}"
        " --out {output} --no-progress > {log} 2>&1"


rule interpret_rank:
    """Confident-and-correct, prevalent, sign-consistent taxa ranked by attribution."""
    input:
        attributions=ATTRIBUTIONS,
        fasta=raw("dryad", "seqs_.07_embed.fasta"),
    output:
        ranking=f"{INTERPRET_DIR}/taxon_ranking.tsv",
        top_bottom=report(
            f"{INTERPRET_DIR}/top_bottom_taxa.tsv",
            caption="../report/interpret_top_bottom.rst",
            category=INTERPRET_REPORT,
            subcategory="Attribution",
        ),
        summary=f"{INTERPRET_DIR}/ranking_filters.tsv",
    log:
        f"{LOGS}/interpret/rank.log",
    benchmark:
        f"{BENCH}/interpret_rank.tsv"
    conda:
        "../envs/python.yaml"
    params:
        config=config_json("interpret"),
    shell:
        "python -m microbiome_lm rank-attributions --config-json {params.config:q}"
        " --attributions {input.attributions} --vocab-fasta {input.fasta}"
        " --ranking {output.ranking} --top-bottom {output.top_bottom}"
        " --summary {output.summary} > {log} 2>&1"


rule interpret_avg_embeddings:
    """Mean and mean of squares of each taxon's contextual embedding over the AGP samples."""
    input:
        members=lambda w: [] if USES_PRETRAINED else ensemble_member_inputs(),
        pretrained=lambda w: pretrained_discriminator_files() if USES_PRETRAINED else [],
        vocab=VOCAB_EMBEDDINGS,
        samples=INTERPRET_COHORTS["agp"][0],
        labels=INTERPRET_COHORTS["agp"][1],
    output:
        embeddings=AVG_CONTEXTUAL_EMBEDDINGS,
        stats=EMBEDDING_STATS,
    log:
        f"{LOGS}/interpret/avg_embeddings.log",
    benchmark:
        f"{BENCH}/interpret_avg_embeddings.tsv"
    conda:
        "../envs/python.yaml"
    threads: config["threads"]
    resources:
        gpu=INTERPRET_GPU,
        mem_mb=4000,
        runtime=60,
    params:
        config=INTERPRET_CONFIG,
        model=lambda w: (
            f"--pretrained {pretrained_discriminator()}"
            if USES_PRETRAINED
            else "--members " + " ".join(ensemble_member_dirs())
        ),
    shell:
        "python -m microbiome_lm avg-embeddings --config-json {params.config:q} {params.model}"
        " --vocab-embeddings {input.vocab} --samples {input.samples} --labels {input.labels}"
        " --out {output.embeddings} --stats {output.stats} --no-progress > {log} 2>&1"


rule interpret_tsne:
    """t-SNE coordinates of the contextual and vocabulary embeddings of the most frequent taxa."""
    input:
        embeddings=AVG_CONTEXTUAL_EMBEDDINGS,
        vocab=VOCAB_EMBEDDINGS,
        stats=EMBEDDING_STATS,
        taxonomy=TAXONOMY_TABLE,
        attributions=ATTRIBUTIONS,
    output:
        f"{INTERPRET_DIR}/tsne_coordinates.tsv",
    log:
        f"{LOGS}/interpret/tsne.log",
    benchmark:
        f"{BENCH}/interpret_tsne.tsv"
    conda:
        "../envs/python.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        config=config_json("seed", "interpret"),
    shell:
        "python -m microbiome_lm tsne --config-json {params.config:q}"
        " --avg-embeddings {input.embeddings} --vocab-embeddings {input.vocab}"
        " --stats {input.stats} --taxonomy {input.taxonomy}"
        " --attributions {input.attributions} --out {output} > {log} 2>&1"


rule interpret_tsne_figure:
    input:
        rules.interpret_tsne.output,
    output:
        report(
            f"{INTERPRET_DIR}/tsne.png",
            caption="../report/interpret_tsne.rst",
            category=INTERPRET_REPORT,
            subcategory="Embedding spaces",
        ),
    log:
        f"{LOGS}/interpret/tsne_figure.log",
    benchmark:
        f"{BENCH}/interpret_tsne_figure.tsv"
    conda:
        "../envs/python.yaml"
    shell:
        "python -m microbiome_lm plot-tsne --coordinates {input} --out {output} > {log} 2>&1"


rule interpret_clusterability:
    """KMeans ARI / NMI against the taxonomy, in the original embedding spaces."""
    input:
        embeddings=AVG_CONTEXTUAL_EMBEDDINGS,
        vocab=VOCAB_EMBEDDINGS,
        stats=EMBEDDING_STATS,
        taxonomy=TAXONOMY_TABLE,
    output:
        report(
            f"{INTERPRET_DIR}/clusterability.tsv",
            caption="../report/interpret_clusterability_table.rst",
            category=INTERPRET_REPORT,
            subcategory="Embedding spaces",
        ),
    log:
        f"{LOGS}/interpret/clusterability.log",
    benchmark:
        f"{BENCH}/interpret_clusterability.tsv"
    conda:
        "../envs/python.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        config=config_json("seed", "interpret"),
    shell:
        "python -m microbiome_lm clusterability --config-json {params.config:q}"
        " --avg-embeddings {input.embeddings} --vocab-embeddings {input.vocab}"
        " --stats {input.stats} --taxonomy {input.taxonomy} --out {output} > {log} 2>&1"


rule interpret_clusterability_figure:
    input:
        rules.interpret_clusterability.output,
    output:
        report(
            f"{INTERPRET_DIR}/clusterability.png",
            caption="../report/interpret_clusterability.rst",
            category=INTERPRET_REPORT,
            subcategory="Embedding spaces",
        ),
    log:
        f"{LOGS}/interpret/clusterability_figure.log",
    benchmark:
        f"{BENCH}/interpret_clusterability_figure.tsv"
    conda:
        "../envs/python.yaml"
    shell:
        "python -m microbiome_lm plot-clusterability --table {input} --out {output} > {log} 2>&1"


rule interpret_top_taxa_figure:
    input:
        top_bottom=rules.interpret_rank.output.top_bottom,
        taxonomy=TAXONOMY_TABLE,
    output:
        report(
            f"{INTERPRET_DIR}/top_bottom_taxa.png",
            caption="../report/interpret_top_taxa.rst",
            category=INTERPRET_REPORT,
            subcategory="Attribution",
        ),
    log:
        f"{LOGS}/interpret/top_taxa_figure.log",
    benchmark:
        f"{BENCH}/interpret_top_taxa_figure.tsv"
    conda:
        "../envs/python.yaml"
    params:
        config=config_json("interpret"),
    shell:
        "python -m microbiome_lm plot-top-taxa --config-json {params.config:q}"
        " --top-bottom {input.top_bottom} --taxonomy {input.taxonomy} --out {output} > {log} 2>&1"


rule interpret:
    """Every output of the interpretation stage."""
    input:
        rules.interpret_rank.output,
        rules.interpret_avg_embeddings.output,
        rules.interpret_tsne_figure.output,
        rules.interpret_clusterability_figure.output,
        rules.interpret_top_taxa_figure.output,


TARGETS.extend(rules.interpret.input)
