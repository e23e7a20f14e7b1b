"""Microbiome language models (Pope et al., PLOS Comp Biol 2025) as one workflow.

    snakemake --cores 2                               # the paper, data from Dryad
    snakemake --cores 2 --configfile config/toy.yaml  # the embedded toy data

Each stage is one file in rules/; each rule is a thin call of the `microbiome_lm` package.
Every stage file appends the outputs it contributes to the default target to TARGETS.
"""


configfile: "config/config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/download.smk"
include: "rules/hosts.smk"
include: "rules/pretrain.smk"
include: "rules/finetune_models.smk"
include: "rules/finetune.smk"
include: "rules/evaluate.smk"
include: "rules/taxonomy.smk"
include: "rules/blast.smk"
include: "rules/pathways.smk"
include: "rules/embed.smk"
include: "rules/interpret.smk"


rule all:
    default_target: True
    input:
        TARGETS,
