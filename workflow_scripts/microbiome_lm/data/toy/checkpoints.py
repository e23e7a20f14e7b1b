"""Published checkpoint folders (``config.json`` + ``pytorch_model.bin``) at toy dimensions.

The files mimic the Dryad ones (reference 7): a plain ``torch.save`` of the inner Hugging
Face model's state dict, ELECTRA key names, and a ``config.json`` with the reference 7.2
fields. transformers 5 no longer writes ``pytorch_model.bin`` (``save_pretrained`` always
writes safetensors) and adds fields the published files predate, so both are written
here directly; the key list is checked against transformers by the tests.

Random weights follow the original training history so that checks meant for the real
files hold: the unused HF word-embedding table never changes, ``epoch0`` equals
``epoch105`` (reference 13 #5), and the ensemble runs share epoch 120's frozen encoder
(reference 8.2, ``--freeze_encoders 5``). Real trained checkpoints can replace them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ...core.errors import ConfigError, InputError
from ..layout import ENSEMBLE_CHECKPOINTS, PRETRAINED_CHECKPOINTS, PRETRAINED_EPOCHS

GROUPS = {"pretrainedmodels": PRETRAINED_CHECKPOINTS, "ensemble": ENSEMBLE_CHECKPOINTS}
INIT_STD = 0.02  # ElectraConfig.initializer_range
EPOCH_DRIFT = 0.002  # sd of the weight change per 15 pretraining epochs
FROZEN_IN_PRETRAINING = ("electra.embeddings.word_embeddings.weight",)  # inputs_embeds bypass it
TRAINED_IN_FINETUNING = ("electra.embeddings.", "electra.embeddings_project.", "classifier.")


def electra_config(model: dict, vocab_size: int, embedding_size: int, max_positions: int,
                   classifier: bool) -> dict:
    """The reference 7.2 ``config.json`` fields, at the given dimensions."""
    if model["hidden_size"] % model["num_attention_heads"]:
        raise ConfigError("configuration", "model.hidden_size must be a multiple of model.num_attention_heads")
    config = {
        "architectures": ["ElectraForSequenceClassification" if classifier else "ElectraForPreTraining"],
        "attention_probs_dropout_prob": model["attention_probs_dropout_prob"],
        "embedding_size": embedding_size,
        "hidden_act": "gelu",
        "hidden_dropout_prob": model["hidden_dropout_prob"],
        "hidden_size": model["hidden_size"],
        "initializer_range": INIT_STD,
        "intermediate_size": model["intermediate_size"],
        "layer_norm_eps": 1e-12,
        "max_position_embeddings": max_positions,
        "model_type": "electra",
        "num_attention_heads": model["num_attention_heads"],
        "num_hidden_layers": model["num_hidden_layers"],
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "summary_activation": "gelu",
        "summary_last_dropout": 0.1,
        "summary_type": "first",
        "summary_use_proj": True,
        "type_vocab_size": 2,
        "vocab_size": vocab_size,
    }
    if classifier:
        config["id2label"] = {"0": "LABEL_0", "1": "LABEL_1"}
        config["label2id"] = {"LABEL_0": 0, "LABEL_1": 1}
    return config


def state_shapes(config: dict) -> list[tuple[str, tuple[int, ...]]]:
    """State-dict keys and shapes, in the order transformers lists them (reference 7.1)."""
    v, e, h, i = (config[k] for k in ("vocab_size", "embedding_size", "hidden_size", "intermediate_size"))
    shapes = [
        ("electra.embeddings.word_embeddings.weight", (v, e)),
        ("electra.embeddings.position_embeddings.weight", (config["max_position_embeddings"], e)),
        ("electra.embeddings.token_type_embeddings.weight", (config["type_vocab_size"], e)),
        ("electra.embeddings.LayerNorm.weight", (e,)),
        ("electra.embeddings.LayerNorm.bias", (e,)),
    ]
    if e != h:
        shapes += [("electra.embeddings_project.weight", (h, e)), ("electra.embeddings_project.bias", (h,))]
    for layer in range(config["num_hidden_layers"]):
        p = f"electra.encoder.layer.{layer}."
        for name in ("query", "key", "value"):
            shapes += [(f"{p}attention.self.{name}.weight", (h, h)), (f"{p}attention.self.{name}.bias", (h,))]
        shapes += [
            (f"{p}attention.output.dense.weight", (h, h)), (f"{p}attention.output.dense.bias", (h,)),
            (f"{p}attention.output.LayerNorm.weight", (h,)), (f"{p}attention.output.LayerNorm.bias", (h,)),
            (f"{p}intermediate.dense.weight", (i, h)), (f"{p}intermediate.dense.bias", (i,)),
            (f"{p}output.dense.weight", (h, i)), (f"{p}output.dense.bias", (h,)),
            (f"{p}output.LayerNorm.weight", (h,)), (f"{p}output.LayerNorm.bias", (h,)),
        ]
    if config["architectures"] == ["ElectraForSequenceClassification"]:
        shapes += [("classifier.dense.weight", (h, h)), ("classifier.dense.bias", (h,)),
                   ("classifier.out_proj.weight", (2, h)), ("classifier.out_proj.bias", (2,))]
    else:
        shapes += [("discriminator_predictions.dense.weight", (h, h)),
                   ("discriminator_predictions.dense.bias", (h,)),
                   ("discriminator_predictions.dense_prediction.weight", (1, h)),
                   ("discriminator_predictions.dense_prediction.bias", (1,))]
    return shapes


def initial_state(rng: np.random.Generator, config: dict) -> dict[str, np.ndarray]:
    """HF-style initialisation: N(0, 0.02) weights, zero biases, unit LayerNorm, zero padding row."""
    state = {}
    for key, shape in state_shapes(config):
        if key.endswith("LayerNorm.weight"):
            value = np.ones(shape)
        elif key.endswith(".bias"):
            value = np.zeros(shape)
        else:
            value = rng.normal(0.0, INIT_STD, shape)
        state[key] = value.astype(np.float32)
    state["electra.embeddings.word_embeddings.weight"][config["pad_token_id"]] = 0.0
    return state


def _drift(rng: np.random.Generator, state: dict, keys) -> dict:
    """A copy of ``state`` with a small random change on ``keys`` (stand-in for training)."""
    return {k: (v + rng.normal(0.0, EPOCH_DRIFT, v.shape).astype(np.float32)) if k in keys else v.copy()
            for k, v in state.items()}


def random_checkpoints(rng: np.random.Generator, pretrain_config: dict,
                       ensemble_config: dict) -> dict[str, dict[str, dict[str, np.ndarray]]]:
    """State dicts of every published folder, by group and folder name."""
    state = initial_state(rng, pretrain_config)
    trained = [k for k in state if k not in FROZEN_IN_PRETRAINING]
    by_epoch = {}
    for epoch in PRETRAINED_EPOCHS[1:]:
        state = _drift(rng, state, trained)
        by_epoch[epoch] = state
    by_epoch[0] = {k: v.copy() for k, v in by_epoch[105].items()}  # overwritten at each generator swap
    pretrained = {name: by_epoch[epoch] for name, epoch in zip(PRETRAINED_CHECKPOINTS, PRETRAINED_EPOCHS)}
    encoder = {k: v for k, v in by_epoch[120].items() if k.startswith("electra.")}
    ensemble = {}
    for name in ENSEMBLE_CHECKPOINTS:
        start = {**initial_state(rng, ensemble_config), **encoder}
        tuned = [k for k in start if k.startswith(TRAINED_IN_FINETUNING) and k not in FROZEN_IN_PRETRAINING]
        ensemble[name] = _drift(rng, start, tuned)
    return {"pretrainedmodels": pretrained, "ensemble": ensemble}


def config_json(config: dict) -> bytes:
    """``config.json`` bytes as transformers writes them (sorted keys, two-space indent)."""
    return (json.dumps(config, indent=2, sort_keys=True) + "\n").encode()


def save_state(state: dict, path: Path) -> bytes:
    """``torch.save`` a state dict (numpy arrays or tensors) to ``path`` and return the bytes.

    The file name (pytorch_model.bin) names the archive inside, as in files HF wrote.
    """
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: torch.as_tensor(v) for k, v in state.items()}, path)
    return path.read_bytes()


def real_checkpoint(folder: Path, staging: Path) -> dict[str, bytes]:
    """``config.json`` and ``pytorch_model.bin`` bytes of a trained checkpoint folder.

    A folder holding ``model.safetensors`` instead of the ``.bin`` (what this project's
    training writes) is converted, so the mirror still has the published layout.
    """
    import torch

    config_path = folder / "config.json"
    try:
        config = json.loads(config_path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(config_path, f"not a readable JSON config ({err})") from err
    if not isinstance(config, dict) or config.get("model_type") != "electra":
        raise InputError(config_path, "expected an ELECTRA config (model_type 'electra')")
    binary, safetensors = folder / "pytorch_model.bin", folder / "model.safetensors"
    try:
        if binary.is_file():
            state = torch.load(binary, map_location="cpu", weights_only=True)
        elif safetensors.is_file():
            from safetensors.torch import load_file

            state = load_file(str(safetensors))
        else:
            raise InputError(folder, "neither pytorch_model.bin nor model.safetensors found")
    except (RuntimeError, OSError, ValueError) as err:
        raise InputError(folder, f"weights are not a loadable state dict ({err})") from err
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputError(folder, "weights must be a dict of tensors")
    if binary.is_file():
        weights = binary.read_bytes()
    else:
        weights = save_state(state, staging / folder.name / "pytorch_model.bin")
    return {"config.json": config_path.read_bytes(), "pytorch_model.bin": weights}
