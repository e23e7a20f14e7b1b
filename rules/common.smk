"""Config loading, validation and path helpers. No stage logic lives here."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "workflow_scripts"))

from microbiome_lm.config import validate_config
from microbiome_lm.data import layout

config.update(validate_config(config))

OUT = config["output_dir"]
SOURCE = config["data"]["source"]
LOGS = f"{OUT}/logs"
BENCH = f"{OUT}/benchmarks"

# Outputs of the default target `all`: each stage file appends what it contributes.
TARGETS = []


def raw(group, name):
    """Path of a raw input file, whatever the source (downloaded, copied from local, or toy)."""
    return f"{OUT}/raw/{group}/{name}"


def microbiomedata(member):
    """Path of an array extracted from microbiomedata.zip."""
    return f"{OUT}/data/microbiomedata/{member}"


def host_pickle(host_key):
    return f"{OUT}/hosts/host_to_indices_{host_key}_512.pkl"


RAW_FILES = {
    "dryad": config["data"]["dryad"]["files"],
    "zenodo": config["data"]["zenodo"]["files"],
    "agp_metadata": config["data"]["host_metadata"]["files"],
    "cohorts": config["data"]["cohorts"]["files"],
}


# Every rule runs the package from this checkout. Without --sdm conda, the interpreter running
# Snakemake (e.g. the venv's) runs the rules too, whatever `python` the caller's PATH has.
from snakemake.settings.types import DeploymentMethod

_PYTHON_BIN = (
    ""
    if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
    else f"export PATH={Path(sys.executable).parent}:$PATH; "
)
shell.prefix(
    f"set -euo pipefail; {_PYTHON_BIN}"
    f"export PYTHONPATH={Path(workflow.basedir) / 'workflow_scripts'}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; "
)


def config_json(*sections):
    """The config sections a rule depends on, as JSON for --config-json (a change reruns only that rule)."""
    return json.dumps({s: config[s] for s in sections}, sort_keys=True)


# Zip archives to extract, with the raw group each comes from.
ARCHIVES = {
    "microbiomedata.zip": "dryad",
    "pretrainedmodels.zip": "dryad",
    "ensemble.zip": "dryad",
    "property_pathway_correlations.zip": "zenodo",
}
FILE_SERVER = {
    "agp_metadata": config["data"]["host_metadata"]["base_url"],
    "cohorts": config["data"]["cohorts"]["base_url"],
}
if SOURCE == "toy":
    RAW_SOURCE_DIR = f"{OUT}/toy_mirror"
elif SOURCE == "local":
    if not config["data"]["local_dir"]:
        raise ValueError(
            "config key 'data.local_dir' must be set when data.source is 'local'"
        )
    RAW_SOURCE_DIR = config["data"]["local_dir"]


def sha256_flag(name):
    """--sha256 HEX when config data.sha256 pins this file, else nothing."""
    pin = config["data"]["sha256"].get(name)
    return f"--sha256 {pin}" if pin else ""


def retry_flags():
    d = config["data"]["download"]
    return f"--retries {d['retries']} --backoff {d['backoff_seconds']} --timeout {d['timeout_seconds']}"


def optional_flag(flag, value):
    return f"{flag} {value}" if value is not None else ""


def extraction_root(archive):
    """Params function: the folder an archive is extracted into, derived from its first output."""
    depth = len(Path(layout.zip_members(archive)[0]).parts)
    return lambda wildcards, output: Path(output[0]).parents[depth - 1]


# ---- Contracts between stages (paths one stage writes and another reads) ----


def ensemble_member_dirs():
    """Checkpoint folders of the IBD ensemble that attribution and embedding use.

    rules/finetune.smk redefines this (and ensemble_member_inputs) to the protocol-C members
    it trains when configured so; by default these are the published Dryad ensemble folders.
    """
    return [f"{OUT}/data/ensemble/{name}" for name in layout.ENSEMBLE_CHECKPOINTS]


def ensemble_member_inputs():
    """Files to list as rule input for ensemble_member_dirs() (published folders are extracted file by file)."""
    return [f"{d}/{f}" for d in ensemble_member_dirs() for f in layout.CHECKPOINT_FILES]


# Averaged contextual embeddings per vocabulary taxon, (n_vocab, hidden, 2) float32:
# [..., 0] mean over the taxon's occurrences, [..., 1] mean of squares (reference 10).
AVG_CONTEXTUAL_EMBEDDINGS = f"{OUT}/interpret/avg_vocab_embeddings.npy"
# DADA2 taxonomy of the vocabulary: one row per taxon id, ranks and bootstrap confidences.
TAXONOMY_TABLE = f"{OUT}/taxonomy/taxonomy.tsv"


def toy_checkpoint_dir():
    """Trained toy checkpoints to pack into the mirror (toy.checkpoints), or None when unset or absent."""
    folder = config["toy"]["checkpoints"]
    if folder is None:
        return None
    path = Path(workflow.basedir) / folder
    if not path.is_dir():
        raise ValueError(
            f"config key 'toy.checkpoints': {path} is not a folder "
            "(null = random weights; `make toy-checkpoints` builds it)"
        )
    return str(path)


def toy_checkpoint_files():
    folder = toy_checkpoint_dir()
    return (
        sorted(str(p) for p in Path(folder).rglob("*") if p.is_file()) if folder else []
    )
