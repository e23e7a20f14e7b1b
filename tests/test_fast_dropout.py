"""The CPU dropout of model/fast_dropout.py: the distribution of nn.Dropout, HF's maths, seeded by torch."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from transformers import ElectraConfig, ElectraForPreTraining

from microbiome_lm.model import fast_dropout
from microbiome_lm.model.fast_dropout import FastDropout, attention_forward, install, keep_mask
from microbiome_lm.train.device import maybe_fast_dropout


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_keep_mask_frequency_and_independence(p):
    torch.manual_seed(0)
    mask = 1 - keep_mask((1000, 1000), p)  # 1 where dropped
    sd = (p * (1 - p) / mask.numel()) ** 0.5
    assert abs(float(mask.mean()) - p) < 5 * sd
    # neighbouring elements are independent: P(both dropped) = p^2
    both = float((mask[:, 1:] * mask[:, :-1]).mean())
    assert abs(both - p * p) < 5 * (p * p * (1 - p * p) / mask[:, 1:].numel()) ** 0.5


def test_keep_mask_resolves_probabilities_finer_than_its_words():
    """p = 0.5 / 2**16 lies inside the first 16-bit step: only the edge draw can drop anything."""
    torch.manual_seed(1)
    n, p = 8_000_000, 0.5 / 65536
    dropped = float((keep_mask((n,), p) == 0).sum())
    assert abs(dropped - n * p) < 5 * (n * p) ** 0.5  # ~61 expected; 0 without the edge draw
    assert set(keep_mask((1000,), 0.3).unique().tolist()) == {0.0, 1.0}
    with pytest.raises(ValueError, match="dropout probability"):
        keep_mask((10,), 1.0)


def test_keep_mask_follows_torch_seed():
    torch.manual_seed(3)
    a, b = keep_mask((64, 64), 0.1), keep_mask((64, 64), 0.1)
    torch.manual_seed(3)
    assert torch.equal(keep_mask((64, 64), 0.1), a) and not torch.equal(a, b)


def test_fast_dropout_module_scales_kept_values():
    x = torch.rand(200, 300) + 1.0
    layer = FastDropout(0.2)
    assert torch.equal(layer.eval()(x), x)
    y = layer.train()(x)
    kept = y != 0
    torch.testing.assert_close(y[kept], x[kept] / 0.8)
    assert abs(float((~kept).float().mean()) - 0.2) < 0.01


def test_mixed_precision_tensors_take_the_same_fast_mask():
    """bf16 activations (``amp: bf16`` on a CPU) get the float32 mask of the same seed, cast: the
    same stream, not torch's bernoulli_, which costs even more per element in bf16."""
    torch.manual_seed(4)
    reference = keep_mask((300, 200), 0.2)
    torch.manual_seed(4)
    half = keep_mask((300, 200), 0.2, torch.bfloat16)
    assert half.dtype == torch.bfloat16 and torch.equal(half.float(), reference)
    x = (torch.rand(300, 200) + 1.0).to(torch.bfloat16)
    torch.manual_seed(4)
    y = FastDropout(0.2).train()(x)
    assert y.dtype == torch.bfloat16
    assert torch.equal(y != 0, reference.bool())
    torch.testing.assert_close(y[y != 0], (x * (1 / 0.8))[y != 0])


def _qkv(seed=0, batch=2, heads=3, length=7, dim=4):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(batch, heads, length, dim, generator=g, requires_grad=True) for _ in range(3))
    mask = torch.ones(batch, 1, length, length, dtype=torch.bool)
    mask[1, ..., 5:] = False  # the second sample has two PAD keys
    return q, k, v, mask


def _eager_attention(q, k, v, mask, dropped, p):
    """HF's eager attention at scale 0.5 in float32, with the given positions dropped."""
    scores = (q @ k.transpose(-1, -2)) * 0.5 + torch.where(mask, 0.0, torch.finfo(torch.float32).min)
    return ((torch.softmax(scores, -1) * (~dropped) / (1 - p)) @ v).transpose(1, 2)


def test_attention_with_dropout_is_softmax_then_dropout(monkeypatch):
    """Given the same dropped positions, our attention equals HF's eager formula, values and gradients."""
    q, k, v, mask = _qkv()
    p = 0.25
    dropped = torch.rand(2, 3, 7, 7, generator=torch.Generator().manual_seed(1)) < p
    monkeypatch.setattr(fast_dropout, "keep_mask", lambda shape, prob, dtype: (~dropped).to(dtype))
    module = nn.Module()
    out, _ = attention_forward(module, q, k, v, mask, dropout=p, scaling=0.5)
    expected = _eager_attention(q, k, v, mask, dropped, p)
    torch.testing.assert_close(out, expected)
    grads = torch.autograd.grad(out.square().sum(), (q, k, v))
    for a, b in zip(grads, torch.autograd.grad(expected.square().sum(), (q, k, v))):
        torch.testing.assert_close(a, b)


def test_bf16_attention_with_dropout_takes_the_fast_path(monkeypatch):
    """Under CPU autocast the attention tensors are bf16: still our mask, still HF's formula."""
    q, k, v, mask = _qkv()
    q, k, v = (t.detach().to(torch.bfloat16) for t in (q, k, v))
    p = 0.25
    dropped = torch.rand(2, 3, 7, 7, generator=torch.Generator().manual_seed(1)) < p
    calls = []
    monkeypatch.setattr(fast_dropout, "keep_mask",
                        lambda shape, prob, dtype: calls.append(dtype) or (~dropped).to(dtype))
    out, _ = attention_forward(nn.Module(), q, k, v, mask, dropout=p, scaling=0.5)
    assert calls == [torch.bfloat16] and out.dtype == torch.bfloat16
    expected = _eager_attention(*(t.float() for t in (q, k, v)), mask, dropped, p)
    torch.testing.assert_close(out.float(), expected, rtol=2e-2, atol=2e-2)


def test_attention_without_dropout_is_sdpa():
    q, k, v, mask = _qkv()
    module = nn.Module()
    module.is_causal = False
    out, _ = attention_forward(module, q, k, v, mask, dropout=0.0, scaling=0.5)
    expected = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=0.5).transpose(1, 2)
    torch.testing.assert_close(out, expected)


def _electra(attn="sdpa"):
    torch.manual_seed(0)
    config = ElectraConfig(vocab_size=30, embedding_size=8, hidden_size=16, num_hidden_layers=2,
                           num_attention_heads=2, intermediate_size=32, max_position_embeddings=20,
                           attn_implementation=attn)
    return ElectraForPreTraining(config)


def test_install_keeps_weights_eval_outputs_and_saved_config(tmp_path):
    model, plain = _electra(), _electra()
    assert install(model) == 7  # embeddings + 3 per layer
    assert not any(type(m) is nn.Dropout for m in model.modules())
    assert model.config._attn_implementation == fast_dropout.ATTENTION_NAME
    assert model.state_dict().keys() == plain.state_dict().keys()
    x, am = torch.randn(3, 9, 8), torch.ones(3, 9, dtype=torch.long)
    am[2, 4:] = 0
    model.eval(), plain.eval()
    assert torch.equal(model(inputs_embeds=x, attention_mask=am).logits,
                       plain(inputs_embeds=x, attention_mask=am).logits)
    model.save_pretrained(tmp_path)
    assert fast_dropout.ATTENTION_NAME not in (tmp_path / "config.json").read_text()
    assert "attn_implementation" not in json.loads((tmp_path / "config.json").read_text())
    # training: the masks come from torch's seed, so a rerun with the same seed is identical
    model.train()
    torch.manual_seed(5)
    a = model(inputs_embeds=x, attention_mask=am).logits
    torch.manual_seed(5)
    assert torch.equal(a, model(inputs_embeds=x, attention_mask=am).logits)


def test_install_leaves_eager_attention_and_switch_off():
    eager = _electra("eager")
    install(eager)
    assert eager.config._attn_implementation == "eager"
    off = _electra()
    maybe_fast_dropout(off, enabled=False, device=torch.device("cpu"))
    assert any(type(m) is nn.Dropout for m in off.modules())
