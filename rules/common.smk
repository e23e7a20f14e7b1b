"""Config loading, validation and path helpers. No stage logic lives here."""

from pathlib import Path

from microbiome_lm.config import validate_config
from microbiome_lm.data import layout


config.update(validate_config(config))

OUT = config["output_dir"]
SOURCE = config["data"]["source"]
LOGS = f"{OUT}/logs"
BENCH = f"{OUT}/benchmarks"


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
