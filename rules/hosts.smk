"""Host-to-index pickles for host-blocked splits (reference Appendix A, 13 #22)."""


rule host_pickles:
    input:
        seqtab=raw("agp_metadata", "seqtab_final_filter.07.txt"),
        err_to_qid=raw("agp_metadata", "err-to-qid.txt"),
        mapping=raw("agp_metadata", "AG_mapping.txt"),
        fasta=raw("dryad", "seqs_.07_embed.fasta"),
        arrays=[microbiomedata(task["full"]) for task in config["tasks"].values()],
        validated=f"{OUT}/data/validation.tsv",
    output:
        pickles=[host_pickle(task["host_key"]) for task in config["tasks"].values()],
        reports=[
            f"{OUT}/hosts/host_to_indices_{task['host_key']}_512.tsv"
            for task in config["tasks"].values()
        ],
    log:
        f"{LOGS}/host_pickles.log",
    benchmark:
        f"{BENCH}/host_pickles.tsv"
    conda:
        "../envs/python.yaml"
    params:
        arrays=" ".join(
            f"--array {task['host_key']}={microbiomedata(task['full'])}"
            for task in config["tasks"].values()
        ),
        out=lambda w, output: Path(output.pickles[0]).parent,
        max_unmatched=config["hosts"]["max_unmatched_fraction"],
    shell:
        "python -m microbiome_lm hosts --seqtab {input.seqtab} --vocab-fasta {input.fasta} --err-to-qid {input.err_to_qid}"
        " --mapping {input.mapping} {params.arrays} --out-dir {params.out}"
        " --max-unmatched-fraction {params.max_unmatched} > {log} 2>&1"


TARGETS.extend(rules.host_pickles.output)
