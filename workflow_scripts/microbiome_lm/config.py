"""Configuration: YAML files validated against ``config/schema.yaml``, defaults filled in.

The same validation runs in the Snakefile (``rules/common.smk``) and in every CLI command,
so a wrong type or an unknown key fails at parse time, dry runs included, with a message
that names the key.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, validators

from .core.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = REPO_ROOT / "config" / "schema.yaml"


def _with_defaults(validator_class):
    """Extend a jsonschema validator so that ``properties`` fills in each missing key's default."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return validators.extend(validator_class, {"properties": set_defaults})


_DefaultingValidator = _with_defaults(Draft202012Validator)


def load_schema(path: str | Path = SCHEMA_PATH) -> dict:
    with open(path) as handle:
        return yaml.safe_load(handle)


def _key_path(parts) -> str:
    return ".".join(str(p) for p in parts) or "<top level>"


def _describe(error, schema: dict) -> str:
    """Turn a jsonschema error into one line that names the offending key."""
    if error.validator == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        unknown = sorted(k for k in error.instance if k not in allowed)
        where = _key_path(error.absolute_path)
        keys = ", ".join(f"{where}.{k}" if error.absolute_path else k for k in unknown)
        return f"unknown config key(s) {keys}; allowed here: {', '.join(sorted(allowed))}"
    return f"config key '{_key_path(error.absolute_path)}': {error.message}"


def validate_config(config: Mapping[str, Any], schema: dict | None = None) -> dict:
    """Validate ``config`` and return a copy with every default filled in.

    Raises :class:`ConfigError` listing every problem, each naming its key.
    """
    schema = schema if schema is not None else load_schema()
    instance = copy.deepcopy(dict(config))
    validator = _DefaultingValidator(schema)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        lines = [_describe(e, schema) for e in errors]
        raise ConfigError("configuration", "invalid configuration:\n  " + "\n  ".join(lines))
    return instance


def deep_merge(base: dict, override: Mapping) -> dict:
    """Recursively merge ``override`` onto ``base`` (as Snakemake merges ``--configfile``)."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def read_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(path, "config file not found")
    try:
        with open(path) as handle:
            data = yaml.safe_load(handle) or {}
    except yaml.YAMLError as err:
        raise ConfigError(path, f"not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(path, "top level must be a mapping of keys to values")
    return data


def load_config(*paths: str | Path, overrides: Mapping | None = None) -> dict:
    """Load one or more YAML files (later ones win), apply overrides, validate, fill defaults."""
    merged: dict = {}
    for path in paths:
        merged = deep_merge(merged, read_yaml(path))
    if overrides:
        merged = deep_merge(merged, overrides)
    try:
        return validate_config(merged)
    except ConfigError as err:
        names = ", ".join(str(p) for p in paths) or "configuration"
        raise ConfigError(names, err.problem) from None


def get(config: Mapping, dotted: str) -> Any:
    """``get(cfg, "pretrain.generator.epochs")``: read a nested key (KeyError names the key)."""
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise KeyError(f"config key '{dotted}' is missing")
        node = node[part]
    return node


def add_config_arguments(parser) -> None:
    """The config flags every CLI command shares: files, a JSON overlay (used by the rules), single keys."""
    parser.add_argument("--configfile", action="append", default=[], metavar="YAML",
                        help="config file(s); later ones win; schema defaults fill the rest")
    parser.add_argument("--config-json", default=None, metavar="JSON",
                        help="config overlay as a JSON object (what the Snakemake rules pass)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="set_keys",
                        help="override one key, e.g. --set pretrain.generator.epochs=3 (value parsed as YAML)")


def config_from_args(args) -> dict:
    """Build the validated config from :func:`add_config_arguments` flags."""
    import json

    overrides: dict = {}
    if args.config_json:
        try:
            overrides = json.loads(args.config_json)
        except json.JSONDecodeError as err:
            raise ConfigError("--config-json", f"not valid JSON: {err}") from err
    for item in args.set_keys:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError("--set", f"expected KEY=VALUE, got {item!r}")
        node = {}
        cursor = node
        parts = key.split(".")
        for part in parts[:-1]:
            cursor = cursor.setdefault(part, {})
        cursor[parts[-1]] = yaml.safe_load(value)
        overrides = deep_merge(overrides, node)
    return load_config(*args.configfile, overrides=overrides)
