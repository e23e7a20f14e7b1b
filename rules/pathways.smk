"""Embedding dimension x KEGG pathway correlations and their comparison across embeddings (reference 3, 10).

One correlation job per embedding kind (wildcard `kind`): contextual = the averaged contextual
embeddings (AVG_CONTEXTUAL_EMBEDDINGS, written by the attribution stage), fixed = the GloVe
vocabulary embeddings, pca = the PCA baseline built here. The R engine runs in the workflow.
The contextual kind is a target only when some rule produces its input (the attribution stage).
"""

PATHWAYS = config["pathways"]
PATHWAY_DIR = f"{OUT}/pathways"
PATHWAY_TABLE = (
    f"{OUT}/data/property_pathway_correlations/{layout.PATHWAY_TABLE_MEMBER}"
)
PATHWAY_EMBEDDINGS = {
    "contextual": AVG_CONTEXTUAL_EMBEDDINGS,
    "fixed": raw("dryad", "vocab_embeddings.npy"),
    "pca": f"{PATHWAY_DIR}/pca_embeddings.npy",
}
# Configured kinds; contextual only when some rule produces its input. Evaluated when the DAG is
# built (all rule files included by then), so the order of the include lines does not matter.
pathway_kinds = lambda: [
    kind
    for kind in PATHWAYS["kinds"]
    if kind != "contextual"
    or any(AVG_CONTEXTUAL_EMBEDDINGS in map(str, r.output) for r in workflow.rules)
]
PATHWAY_REPORT = "Metabolic pathways"


rule pathway_pca:
    input:
        samples=microbiomedata(PATHWAYS["pca"]["samples"]),
        vocab=raw("dryad", "vocab_embeddings.npy"),
    output:
        PATHWAY_EMBEDDINGS["pca"],
    log:
        f"{LOGS}/pathways/pca.log",
    benchmark:
        f"{BENCH}/pathway_pca.tsv"
    conda:
        "../envs/python.yaml"
    threads: config["threads"]
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        config=config_json("pathways", "model"),
    shell:
        "python -m microbiome_lm pathway-pca --config-json {params.config:q} --samples {input.samples}"
        " --vocab-embeddings {input.vocab} --out {output} > {log} 2>&1"


rule pathway_correlations:
    input:
        embeddings=lambda w: PATHWAY_EMBEDDINGS[w.kind],
        table=PATHWAY_TABLE,
        fasta=raw("dryad", "seqs_.07_embed.fasta"),
    output:
        significant=report(
            f"{PATHWAY_DIR}/{{kind}}/significant.tsv",
            caption="../report/pathway_significant.rst",
            category=PATHWAY_REPORT,
            subcategory="{kind} embeddings",
        ),
        best=report(
            f"{PATHWAY_DIR}/{{kind}}/best_per_property.tsv",
            caption="../report/pathway_best.rst",
            category=PATHWAY_REPORT,
            subcategory="{kind} embeddings",
        ),
        top=report(
            f"{PATHWAY_DIR}/{{kind}}/top_per_property.tsv",
            caption="../report/pathway_top.rst",
            category=PATHWAY_REPORT,
            subcategory="{kind} embeddings",
        ),
        correlations=f"{PATHWAY_DIR}/{{kind}}/correlations.tsv",
        null=f"{PATHWAY_DIR}/{{kind}}/null_max_abs_r.tsv",
        summary=f"{PATHWAY_DIR}/{{kind}}/summary.json",
    log:
        f"{LOGS}/pathways/correlations_{{kind}}.log",
    benchmark:
        f"{BENCH}/pathway_correlations_{{kind}}.tsv"
    wildcard_constraints:
        kind="contextual|fixed|pca",
    conda:
        "../envs/pathways.yaml"
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        config=config_json("pathways"),
        engine=f"--engine {PATHWAYS['engine']}",
        out=lambda w, output: Path(output.summary).parent,
    shell:
        "python -m microbiome_lm pathway-correlations --config-json {params.config:q} --kind {wildcards.kind}"
        " --embeddings {input.embeddings} --pathway-table {input.table} --vocab-fasta {input.fasta} {params.engine}"
        " --out-dir {params.out} > {log} 2>&1"


rule pathway_heatmap:
    input:
        significant=f"{PATHWAY_DIR}/{{kind}}/significant.tsv",
        correlations=f"{PATHWAY_DIR}/{{kind}}/correlations.tsv",
    output:
        report(
            f"{PATHWAY_DIR}/figures/heatmap_{{kind}}.png",
            caption="../report/pathway_heatmap.rst",
            category=PATHWAY_REPORT,
            subcategory="{kind} embeddings",
        ),
    log:
        f"{LOGS}/pathways/heatmap_{{kind}}.log",
    benchmark:
        f"{BENCH}/pathway_heatmap_{{kind}}.tsv"
    wildcard_constraints:
        kind="contextual|fixed|pca",
    conda:
        "../envs/python.yaml"
    params:
        folder=lambda w, input: Path(input.significant).parent,
    shell:
        "python -m microbiome_lm pathway-heatmap --correlations {params.folder}"
        " --title '{wildcards.kind} embeddings: Pearson r, significant cells dotted' --out {output} > {log} 2>&1"


rule pathway_stats:
    input:
        lambda w: [
            f"{PATHWAY_DIR}/{kind}/{name}"
            for kind in pathway_kinds()
            for name in ("significant.tsv", "summary.json")
        ],
    output:
        tests=report(
            f"{PATHWAY_DIR}/significance_tests.tsv",
            caption="../report/pathway_tests.rst",
            category=PATHWAY_REPORT,
            subcategory="comparison",
        ),
        summary=report(
            f"{PATHWAY_DIR}/kind_summary.tsv",
            caption="../report/pathway_summary.rst",
            category=PATHWAY_REPORT,
            subcategory="comparison",
        ),
        histogram=report(
            f"{PATHWAY_DIR}/figures/significant_abs_r_histograms.png",
            caption="../report/pathway_histograms.rst",
            category=PATHWAY_REPORT,
            subcategory="comparison",
        ),
    log:
        f"{LOGS}/pathways/stats.log",
    benchmark:
        f"{BENCH}/pathway_stats.tsv"
    conda:
        "../envs/python.yaml"
    params:
        config=config_json("pathways"),
        kinds=lambda w: " ".join(
            f"--kind {kind}={PATHWAY_DIR}/{kind}" for kind in pathway_kinds()
        ),
    shell:
        "python -m microbiome_lm pathway-stats --config-json {params.config:q} {params.kinds}"
        " --tests {output.tests} --summary {output.summary} --histogram {output.histogram} > {log} 2>&1"


TARGETS.extend(rules.pathway_stats.output)
TARGETS.append(
    lambda w: [f"{PATHWAY_DIR}/figures/heatmap_{kind}.png" for kind in pathway_kinds()]
)
