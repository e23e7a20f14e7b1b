"""Embedding users' own samples (docs/embed.md) and the AutoModel export of the pretrained encoder.

embed_samples maps the table named by config key embed.table onto the vocabulary and writes
embeddings, p(IBD) from ensemble_member_dirs() and the coverage report under
<output_dir>/embed/<embed.name>/; with embed.table null it is not part of `all`.
export_model writes the pretrained discriminator as an AutoModel-ready folder.
"""

import importlib.util

EMBED = config["embed"]
EMBED_DIR = f"{OUT}/embed/{EMBED['name']}"
EMBED_FORMATS = [f for f in EMBED["formats"] if f != "h5ad"]
# The command skips .h5ad when anndata is missing, so it is an output only where anndata is installed.
EMBED_H5AD = (
    "h5ad" in EMBED["formats"] and importlib.util.find_spec("anndata") is not None
)
AUTOMODEL_DIR = f"{OUT}/embed/automodel"


# Output files by name: the tables in each format, the .h5ad, p(IBD) also in the report.
EMBED_STEMS = (
    ["embeddings"]
    + (["predictions"] if EMBED["predict"] else [])
    + (["taxon_embeddings"] if EMBED["taxon_embeddings"] else [])
)
EMBED_OUTPUTS = {
    f"{stem}_{fmt}": f"{EMBED_DIR}/{stem}.{fmt}"
    for stem in EMBED_STEMS
    for fmt in EMBED_FORMATS
}
if EMBED_H5AD:
    EMBED_OUTPUTS["h5ad"] = f"{EMBED_DIR}/embeddings.h5ad"
if "predictions_tsv" in EMBED_OUTPUTS:
    EMBED_OUTPUTS["predictions_tsv"] = report(
        EMBED_OUTPUTS["predictions_tsv"],
        caption="../report/embed_predictions.rst",
        category="Embedding own samples",
        subcategory="p(IBD)",
    )
# A published pretrained checkpoint is listed file by file, ours as its folder.
checkpoint_folder = lambda w, input: (
    Path(input.checkpoint[0]).parent if PUBLISHED else input.checkpoint[0]
)


rule embed_samples:
    input:
        table=EMBED["table"] or [],
        sequences=EMBED["sequences"] or [],
        vocab_fasta=raw("dryad", "seqs_.07_embed.fasta"),
        vocab_embeddings=raw("dryad", "vocab_embeddings.npy"),
        checkpoint=pretrained_discriminator_files(),
        ensemble=ensemble_member_inputs() if EMBED["predict"] else [],
    output:
        **EMBED_OUTPUTS,
        coverage=report(
            f"{EMBED_DIR}/coverage.tsv",
            caption="../report/embed_coverage.rst",
            category="Embedding own samples",
            subcategory="Coverage",
        ),
        mapping=f"{EMBED_DIR}/asv_mapping.tsv",
    log:
        f"{LOGS}/embed/{EMBED['name']}.log",
    benchmark:
        f"{BENCH}/embed_{EMBED['name']}.tsv"
    conda:
        "../envs/embed.yaml"
    threads: config["threads"]
    resources:
        gpu=0 if config["device"] == "cpu" else 1,
        mem_mb=4000,
        runtime=30,
    params:
        config=config_json("threads", "device", "embed", "encoding", "model"),
        sequences=lambda w, input: (
            f"--sequences {input.sequences}" if input.sequences else ""
        ),
        ensemble=(
            "--ensemble " + " ".join(ensemble_member_dirs())
            if EMBED["predict"]
            else ""
        ),
        checkpoint=checkpoint_folder,
        out=lambda w, output: Path(output.coverage).parent,
    shell:
        "python -m microbiome_lm embed --config-json {params.config:q} --table {input.table}"
        " {params.sequences} --vocab-fasta {input.vocab_fasta} --vocab-embeddings {input.vocab_embeddings}"
        " --checkpoint {params.checkpoint} {params.ensemble} --out-dir {params.out}"
        " --no-progress > {log} 2>&1"


rule export_model:
    """The pretrained discriminator as a microbiome-electra folder: AutoModel.from_pretrained(folder)."""
    input:
        checkpoint=pretrained_discriminator_files(),
        vocab_embeddings=raw("dryad", "vocab_embeddings.npy"),
    output:
        directory(AUTOMODEL_DIR),
    log:
        f"{LOGS}/embed/export_model.log",
    benchmark:
        f"{BENCH}/export_model.tsv"
    conda:
        "../envs/python.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        config=config_json("model"),
        checkpoint=checkpoint_folder,
    shell:
        "python -m microbiome_lm export-model --config-json {params.config:q} --checkpoint {params.checkpoint}"
        " --vocab-embeddings {input.vocab_embeddings} --out {output} > {log} 2>&1"


TARGETS.extend(rules.export_model.output)
if EMBED["table"]:
    TARGETS.extend(rules.embed_samples.output)
