"""Training steps: HF's losses, exact length grouping, masked-only head, RTD inputs and labels."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from microbiome_lm.core.tokens import build_token_table
from microbiome_lm.model.electra import build_model, electra_config
from microbiome_lm.model.encoding import encode_samples
from microbiome_lm.model.masking import MaskingProbs
from microbiome_lm.train.batching import Padding, make_batch
from microbiome_lm.train.steps import DiscriminatorTask, GeneratorTask

from .conftest import coordinate_rows

MAX_TAXA = 24
CFG = {"hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 32,
       "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "attn_implementation": "sdpa",
       "initializer_range": 0.02,
       "generator": {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32}}
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    table = build_token_table(rng.normal(size=(40, 8)))
    sizes = [1, 3, 24, 30, 7, 12, 2, 18]  # lengths vary a lot, one sample is cut at MAX_TAXA
    samples = coordinate_rows([{int(t): int(rng.integers(1, 9)) for t in rng.choice(40, k, replace=False)}
                               for k in sizes], width=30)
    return table, encode_samples(samples, table, MAX_TAXA)


def _model(role, table, seed=0):
    torch.manual_seed(seed)
    return build_model(role, electra_config(CFG, role, table, MAX_TAXA), table, train_embeddings=role == "generator")


def _generator_after_step(table, batch, masked_only):
    model = _model("generator", table)
    task = GeneratorTask(model, torch.optim.SGD(model.parameters(), lr=0.5), CPU, None, masked_only)
    loss, count = task.train_batch(batch)
    return model, float(loss) / count


def _batch(data, padding, probs=MaskingProbs(0.3)):
    table, enc = data
    return make_batch(enc, np.arange(len(enc)), table, probs, seed=11, padding=padding)


def test_generator_loss_is_hf_masked_lm_loss(data):
    table, _ = data
    full = _batch(data, Padding(dynamic=False))
    g = full.groups[0]
    model = _model("generator", table)
    labels = g.ids.masked_fill(~g.selected, -100)
    with torch.no_grad():
        expected = model(g.inputs, g.attention_mask, labels=labels).loss
    _, loss = _generator_after_step(table, full, masked_only=True)
    assert loss == pytest.approx(float(expected), rel=1e-5)


@pytest.mark.parametrize("padding,masked_only", [
    (Padding(dynamic=True, groups=3), True),   # length groups + masked-only head
    (Padding(dynamic=True, groups=1), False),  # dynamic padding + full head
])
def test_generator_step_is_unchanged_by_speed_switches(data, padding, masked_only):
    table, _ = data
    reference, ref_loss = _generator_after_step(table, _batch(data, Padding(dynamic=False)), masked_only=False)
    batch = _batch(data, padding)
    assert len(batch.groups) == padding.groups
    if padding.groups > 1:  # the groups hold fewer padded positions than one full-width tensor
        assert sum(g.ids.numel() for g in batch.groups) < batch.size * (MAX_TAXA + 1)
    fast, loss = _generator_after_step(table, batch, masked_only)
    assert loss == pytest.approx(ref_loss, rel=1e-5)
    for (name, a), b in zip(reference.named_parameters(), fast.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)


def _discriminator_task(table, lr=0.5):
    model = _model("discriminator", table)
    params = [p for p in model.parameters() if p.requires_grad]
    task = DiscriminatorTask(model, torch.optim.SGD(params, lr=lr), CPU, None, True, "greedy")
    task.set_generator(_model("generator", table, seed=1))
    return task


def test_rtd_inputs_labels_and_hf_loss(data):
    table, _ = data
    g = _batch(data, Padding(dynamic=False)).groups[0]
    task = _discriminator_task(table)
    disc_ids, labels = task.corrupt(g, None)
    with torch.no_grad():
        logits = task.generator(g.inputs, g.attention_mask).logits
    greedy = logits.argmax(dim=-1)
    assert torch.equal(disc_ids[g.selected], greedy[g.selected])  # the generator's top prediction
    assert torch.equal(disc_ids[~g.selected], g.ids[~g.selected])  # MASK never reaches the discriminator
    assert torch.equal(labels.bool(), g.selected & (disc_ids != g.ids))
    with torch.no_grad():
        expected = task.model(disc_ids, g.attention_mask, labels=labels.long()).loss  # HF's BCE over attended
    loss, total = task.train_batch(_batch(data, Padding(dynamic=False)))
    assert float(loss) / total == pytest.approx(float(expected), rel=1e-5)


def test_discriminator_step_is_unchanged_by_length_groups(data):
    table, _ = data
    reference = _discriminator_task(table)
    reference.train_batch(_batch(data, Padding(dynamic=False)))
    fast = _discriminator_task(table)
    fast.train_batch(_batch(data, Padding(dynamic=True, groups=4)))
    for (name, a), b in zip(reference.model.named_parameters(), fast.model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)
    assert torch.equal(reference.model.embed.weight, torch.from_numpy(table.embeddings))  # frozen table


def test_sampled_replacements_are_seeded(data):
    table, _ = data
    task = _discriminator_task(table)
    task.replacement = "sample"
    batch = _batch(data, Padding(dynamic=False), MaskingProbs(1.0))
    g = batch.groups[0]
    first = task.corrupt(g, task._rng(batch))[0]
    again = task.corrupt(g, task._rng(batch))[0]
    assert torch.equal(first, again)
    logits = task.generator(g.inputs, g.attention_mask).logits
    assert not torch.equal(first[g.selected], logits.argmax(-1)[g.selected])  # not the greedy choice
