"""Raw inputs: the toy mirror, downloads (Dryad, Zenodo, file server) or a local folder; extraction; validation."""

if SOURCE == "toy":

    rule toy_mirror:
        input:
            toy_checkpoint_files(),
        output:
            [
                f"{OUT}/toy_mirror/{group}/{name}"
                for group, names in RAW_FILES.items()
                for name in names
            ],
            planted=f"{OUT}/toy_mirror/planted_signal.json",
        log:
            f"{LOGS}/toy_mirror.log",
        benchmark:
            f"{BENCH}/toy_mirror.tsv"
        conda:
            "../envs/python.yaml"
        params:
            config=config_json("toy", "model", "encoding"),
            out=lambda w, output: Path(output.planted).parent,
            checkpoints=optional_flag("--checkpoints", toy_checkpoint_dir()),
        shell:
            "python -m microbiome_lm toy --config-json {params.config:q} --out {params.out} {params.checkpoints}"
            " > {log} 2>&1"


if SOURCE == "dryad":

    # Compute nodes of a cluster often have no internet: downloads run where snakemake runs.
    localrules:
        fetch_dryad,
        fetch_zenodo,
        fetch_file_server,

    rule fetch_dryad:
        output:
            raw("dryad", "{name}"),
        log:
            f"{LOGS}/fetch/dryad_{{name}}.log",
        retries: 2
        conda:
            "../envs/python.yaml"
        params:
            api=config["data"]["dryad"]["api_url"],
            doi=config["data"]["dryad"]["doi"],
            token_env=config["data"]["dryad"]["token_env"],
            pin=lambda w: sha256_flag(w.name),
            retry=retry_flags(),
        shell:
            "python -m microbiome_lm fetch dryad --api-url {params.api} --doi {params.doi} --name {wildcards.name}"
            " --out {output} --token-env {params.token_env} {params.retry} {params.pin} > {log} 2>&1"

    rule fetch_zenodo:
        output:
            raw("zenodo", "{name}"),
        log:
            f"{LOGS}/fetch/zenodo_{{name}}.log",
        retries: 2
        conda:
            "../envs/python.yaml"
        params:
            api=config["data"]["zenodo"]["api_url"],
            record=config["data"]["zenodo"]["record_id"],
            pin=lambda w: sha256_flag(w.name),
            retry=retry_flags(),
        shell:
            "python -m microbiome_lm fetch zenodo --api-url {params.api} --record {params.record} --name {wildcards.name}"
            " --out {output} {params.retry} {params.pin} > {log} 2>&1"

    rule fetch_file_server:
        output:
            raw("{group}", "{name}"),
        log:
            f"{LOGS}/fetch/{{group}}_{{name}}.log",
        wildcard_constraints:
            group="agp_metadata|cohorts",
        retries: 2
        conda:
            "../envs/python.yaml"
        params:
            url=lambda w: f"{FILE_SERVER[w.group]}/{w.name}",
            pin=lambda w: sha256_flag(w.name),
            retry=retry_flags(),
        shell:
            "python -m microbiome_lm fetch url --url {params.url} --out {output} {params.retry} {params.pin} > {log} 2>&1"

else:

    rule stage_raw:
        input:
            lambda w: f"{RAW_SOURCE_DIR}/{w.group}/{w.name}",
        output:
            raw("{group}", "{name}"),
        log:
            f"{LOGS}/fetch/{{group}}_{{name}}.log",
        conda:
            "../envs/python.yaml"
        params:
            pin=lambda w: sha256_flag(w.name),
        shell:
            "python -m microbiome_lm fetch local --src {input} --out {output} {params.pin} > {log} 2>&1"


for archive, group in ARCHIVES.items():

    rule:
        name:
            f"extract_{Path(archive).stem}"
        input:
            raw(group, archive),
        output:
            [
                f"{OUT}/data/{Path(archive).stem}/{m}"
                for m in layout.zip_members(archive)
            ],
        log:
            f"{LOGS}/extract/{Path(archive).stem}.log",
        conda:
            "../envs/python.yaml"
        params:
            out=extraction_root(archive),
            expect=" ".join(f"--expect {m}" for m in layout.zip_members(archive)),
        shell:
            "python -m microbiome_lm extract --zip {input} --out {params.out} {params.expect} > {log} 2>&1"


rule validate_data:
    input:
        arrays=[microbiomedata(m) for m in layout.MICROBIOMEDATA_MEMBERS],
        embeddings=raw("dryad", "vocab_embeddings.npy"),
        fasta=raw("dryad", "seqs_.07_embed.fasta"),
    output:
        f"{OUT}/data/validation.tsv",
    log:
        f"{LOGS}/validate_data.log",
    benchmark:
        f"{BENCH}/validate_data.tsv"
    conda:
        "../envs/python.yaml"
    params:
        data_dir=lambda w, input: Path(input.arrays[0]).parent,
        n_taxa=optional_flag("--n-taxa", config["vocab"]["n_taxa"]),
        dim=optional_flag("--embedding-dim", config["vocab"]["embedding_dim"]),
    shell:
        "python -m microbiome_lm validate --data-dir {params.data_dir} --vocab-embeddings {input.embeddings}"
        " --vocab-fasta {input.fasta} {params.n_taxa} {params.dim} --out {output} > {log} 2>&1"


rule data:
    """Every raw input fetched and every archive extracted and checked."""
    input:
        [raw(group, name) for group, names in RAW_FILES.items() for name in names],
        [
            f"{OUT}/data/{Path(archive).stem}/{m}"
            for archive in ARCHIVES
            for m in layout.zip_members(archive)
        ],
        f"{OUT}/data/validation.tsv",


TARGETS.extend(rules.data.input)
