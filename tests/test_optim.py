"""Optimiser choice and initialisation scale: the config keys reach the objects that train."""

from __future__ import annotations

import pytest
import torch

from microbiome_lm.config import validate_config
from microbiome_lm.core.errors import ConfigError
from microbiome_lm.core.tokens import build_token_table
from microbiome_lm.model.electra import build_model, electra_config
from microbiome_lm.train.optim import make_optimizer, warmup_schedule

TINY = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64,
        "generator": {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64}}


def test_paper_defaults_are_sgd_and_toy_style_adamw_is_built_with_its_values():
    cfg = validate_config({})
    params = [torch.nn.Parameter(torch.zeros(3))]
    sgd = make_optimizer(params, cfg["finetune"])
    assert isinstance(sgd, torch.optim.SGD)
    assert sgd.defaults["lr"] == 0.01 and sgd.defaults["momentum"] == 0.9 and sgd.defaults["weight_decay"] == 0
    for stage in (cfg["pretrain"]["generator"], cfg["pretrain"]["discriminator"]):
        assert isinstance(make_optimizer(params, stage), torch.optim.SGD)
    adamw = make_optimizer(params, {**cfg["finetune"], "optimizer": "adamw", "lr": 0.001, "weight_decay": 0.01})
    assert isinstance(adamw, torch.optim.AdamW)
    assert adamw.defaults["lr"] == 0.001 and adamw.defaults["weight_decay"] == 0.01


def test_unknown_optimizer_fails_validation_naming_the_key():
    with pytest.raises(ConfigError, match="finetune.optimizer"):
        validate_config({"finetune": {"optimizer": "adam"}})


def test_warmup_rises_linearly_then_stays_constant():
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = make_optimizer([param], {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9})
    schedule = warmup_schedule(optimizer, 4)
    rates = []
    for _ in range(6):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert rates == pytest.approx([0.0, 0.025, 0.05, 0.075, 0.1, 0.1])


@pytest.mark.parametrize("scale", [0.02, 0.15])
def test_initializer_range_sets_the_scale_of_new_encoder_weights(scale):
    cfg = validate_config({"model": {**TINY, "initializer_range": scale}})
    table = build_token_table(torch.randn(50, 8).numpy(), cls_init="zeros")
    torch.manual_seed(0)
    model = build_model("discriminator", electra_config(cfg["model"], "discriminator", table, 16), table, False)
    assert model.hf.config.initializer_range == scale
    weights = torch.cat([layer.attention.self.query.weight.flatten() for layer in model.hf.electra.encoder.layer])
    assert weights.std().item() == pytest.approx(scale, rel=0.1)
