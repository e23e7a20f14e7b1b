"""Config files validate against the schema; bad keys and types fail with the key named."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from microbiome_lm.config import load_config, load_schema, validate_config
from microbiome_lm.core.errors import ConfigError

from .conftest import REPO


def _walk(schema, path=""):
    for name, sub in schema.get("properties", {}).items():
        yield f"{path}{name}", sub
        yield from _walk(sub, f"{path}{name}.")


def test_every_schema_key_has_description_and_default():
    for key, sub in _walk(load_schema()):
        assert "description" in sub or key.startswith("tasks.") or key.startswith("cohorts."), key
        assert "default" in sub, f"schema key {key} has no default"


@pytest.mark.parametrize("name", ["config.yaml", "toy.yaml"])
def test_shipped_configs_validate(name):
    cfg = load_config(REPO / "config" / name)
    assert cfg["encoding"]["max_taxa"] > 0


def test_paper_config_holds_published_values():
    cfg = load_config(REPO / "config" / "config.yaml")
    assert cfg["vocab"]["n_taxa"] == 26726
    assert cfg["encoding"]["max_taxa"] == 512
    assert (cfg["model"]["num_hidden_layers"], cfg["model"]["num_attention_heads"]) == (5, 5)
    assert cfg["model"]["generator"]["num_hidden_layers"] == 10


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match=r"data\.sorce"):
        validate_config({"data": {"sorce": "toy"}})


def test_wrong_type_is_named():
    with pytest.raises(ConfigError, match=r"model\.hidden_size"):
        validate_config({"model": {"hidden_size": "big"}})


def test_defaults_are_filled_without_mutating_input():
    raw = {"data": {"source": "toy"}}
    cfg = validate_config(raw)
    assert raw == {"data": {"source": "toy"}}
    assert cfg["data"]["dryad"]["doi"] == "10.5061/dryad.tb2rbp08p"


@pytest.mark.parametrize(
    "bad,key",
    [({"model": {"hidden_size": "x"}}, "model.hidden_size"), ({"bogus_key": 1}, "bogus_key")],
)
def test_bad_config_fails_a_dry_run_naming_the_key(tmp_path, bad, key):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump({**bad, "output_dir": str(tmp_path / "out")}))
    run = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", str(cfg)],
        cwd=REPO, capture_output=True, text=True,
    )
    assert run.returncode != 0
    assert key in run.stdout + run.stderr
    assert not (tmp_path / "out").exists()
