"""The conda environments shipped for users list what pyproject.toml (and so CI's venv) installs."""

from __future__ import annotations

import re
import tomllib

import yaml

from .conftest import REPO

CONDA_NAMES = {"torch": "pytorch", "matplotlib": "matplotlib-base"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!\[ ;]", requirement, maxsplit=1)[0].lower()


def test_python_env_lists_every_runtime_dependency():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"]}
    wanted |= {_name(r) for r in project["optional-dependencies"]["interpret"]}
    env = yaml.safe_load((REPO / "envs" / "python.yaml").read_text())
    listed = {_name(d) for d in env["dependencies"] if isinstance(d, str)}
    missing = {CONDA_NAMES.get(n, n) for n in wanted} - listed
    assert not missing, f"envs/python.yaml lacks {sorted(missing)}"


def test_every_rule_names_an_existing_env():
    for smk in (REPO / "rules").glob("*.smk"):
        for env in re.findall(r'conda:\s*\n\s*"\.\./(envs/[^"]+)"', smk.read_text()):
            assert (REPO / env).is_file(), f"{smk.name} names missing {env}"
