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
    sums, count = task.train_batch(batch)
    assert sums.shape == (1 + len(task.train_metrics),)
    return model, float(sums[0]) / count


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
        out = model(g.inputs, g.attention_mask, labels=labels)
    _, loss = _generator_after_step(table, full, masked_only=True)
    assert loss == pytest.approx(float(out.loss), rel=1e-5)


def test_generator_step_reports_the_originals_topk_hits(data):
    """The training top-k counts equal the original's full sort of all scores at the selected positions."""
    table, _ = data
    full = _batch(data, Padding(dynamic=True, groups=3))
    model = _model("generator", table)
    expected = torch.zeros(4)
    with torch.no_grad():
        for g in full.groups:
            order = model(g.inputs, g.attention_mask).logits.argsort(dim=-1, descending=True)[g.selected]
            rank = (order == g.ids[g.selected][:, None]).float().argmax(dim=-1)
            expected += torch.tensor([float((rank < k).sum()) for k in (1, 3, 5, 10)])
    task = GeneratorTask(model, torch.optim.SGD(model.parameters(), lr=0.5), CPU, None, True)
    sums, count = task.train_batch(full)
    assert task.train_metrics == ("train_top1_accuracy", "train_top3_accuracy", "train_top5_accuracy",
                                  "train_top10_accuracy")
    assert count == full.n_selected and torch.equal(sums[1:], expected)
    assert expected[0] < expected[3] <= count  # not all trivially 0 or all


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
    with torch.no_grad():
        correct = float(((task.model.rtd_logits(disc_ids, g.attention_mask) > 0).float() == labels)[
            g.attention_mask.bool()].sum())
    sums, total = task.train_batch(_batch(data, Padding(dynamic=False)))
    assert task.train_metrics == ("train_rtd_accuracy",)
    assert float(sums[0]) / total == pytest.approx(float(expected), rel=1e-5)
    assert float(sums[1]) == correct and 0 < correct <= total


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


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_selected_only_last_layer_matches_the_full_forward(data, attn):
    """masked_logits evaluates the generator's last layer for the selected queries alone: same
    logits and same gradients as HF's full forward read at the selected positions."""
    table, _ = data
    g = _batch(data, Padding(dynamic=True, groups=1)).groups[0]
    selected = g.selected.clone()
    selected[1] = False  # a sample with nothing selected
    cfg = {**CFG, "attn_implementation": attn, "generator": {**CFG["generator"], "num_hidden_layers": 2}}
    torch.manual_seed(0)
    model = build_model("generator", electra_config(cfg, "generator", table, MAX_TAXA), table, True)
    ours = model.masked_logits(g.inputs, g.attention_mask, selected)
    full = model(g.inputs, g.attention_mask).logits[selected]
    assert ours.shape == (int(selected.sum()), table.size)
    torch.testing.assert_close(ours, full, rtol=1e-5, atol=1e-6)
    params = [p for p in model.parameters() if p.requires_grad]
    for a, b in zip(torch.autograd.grad(ours.logsumexp(-1).sum(), params, allow_unused=True),
                    torch.autograd.grad(full.logsumexp(-1).sum(), params, allow_unused=True)):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    assert model.masked_logits(g.inputs, g.attention_mask, torch.zeros_like(selected)).shape == (0, table.size)


def test_generator_step_with_an_unselected_group(data):
    """A length group without any selected position still backpropagates (a zero contribution)."""
    table, enc = data
    batch = make_batch(enc, np.arange(len(enc)), table, MaskingProbs(0.3), seed=11,
                       padding=Padding(dynamic=True, groups=3))
    batch.groups[-1].selected[:] = False
    batch.n_selected = sum(int(g.selected.sum()) for g in batch.groups)
    model = _model("generator", table)
    task = GeneratorTask(model, torch.optim.SGD(model.parameters(), lr=0.5), CPU, None, True)
    sums, count = task.train_batch(batch)
    assert count == batch.n_selected > 0 and torch.isfinite(sums).all()


def _relative_gap(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def test_bf16_autocast_on_cpu_tracks_the_float32_step(data):
    """``amp: bf16`` on a CPU: the products run in bf16 (the loss differs from float32's) while
    the weights stay float32 and the loss and the update agree with float32 to bf16 precision."""
    table, _ = data
    batch = _batch(data, Padding(dynamic=True, groups=2))
    results = {}
    for amp in (None, torch.bfloat16):
        gen = _model("generator", table)
        start = [p.detach().clone() for p in gen.parameters()]
        gen_sums, gen_count = GeneratorTask(gen, torch.optim.SGD(gen.parameters(), lr=0.5), CPU, amp,
                                            True).train_batch(batch)
        disc = _discriminator_task(table)
        disc.amp = amp
        disc_start = [p.detach().clone() for p in disc.model.parameters() if p.requires_grad]
        disc_sums, disc_count = disc.train_batch(batch)
        results[amp] = {
            "losses": (float(gen_sums[0]) / gen_count, float(disc_sums[0]) / disc_count),
            "updates": [p.detach() - s for p, s in zip(gen.parameters(), start)]
            + [p.detach() - s for p, s in zip((p for p in disc.model.parameters() if p.requires_grad), disc_start)],
            "dtypes": {p.dtype for p in gen.parameters()} | {p.dtype for p in disc.model.parameters()},
        }
    exact, mixed = results[None], results[torch.bfloat16]
    assert mixed["dtypes"] == {torch.float32}
    assert mixed["losses"] != exact["losses"]  # bf16 products did run
    assert mixed["losses"] == pytest.approx(exact["losses"], rel=2e-2)
    # (key biases have a zero gradient in exact arithmetic: their rounding noise is no signal)
    moved = [(a, b) for a, b in zip(mixed["updates"], exact["updates"]) if float(b.norm()) > 1e-6]
    assert len(moved) > 10
    assert max(_relative_gap(a, b) for a, b in moved) < 0.1


def test_amp_setting_resolution(monkeypatch, caplog):
    """auto never turns bf16 on for a CPU (CPU numbers do not depend on the CPU model); bf16 on a
    CPU without native bf16 products still runs, with a warning that it will be slower."""
    from microbiome_lm.train import device as device_module

    assert device_module.amp_dtype("auto", CPU) is None
    assert device_module.amp_dtype("off", CPU) is None and device_module.amp_dtype(False, CPU) is None
    monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda: True)
    with caplog.at_level("WARNING"):
        assert device_module.amp_dtype("bf16", CPU) is torch.bfloat16
    assert not caplog.records
    monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda: False)
    with caplog.at_level("WARNING"):
        assert device_module.amp_dtype("bf16", CPU) is torch.bfloat16
    assert "no native bf16" in caplog.text


def test_auto_length_groups_are_the_cheapest_split():
    """length_groups auto: the split of the length-sorted batch minimising padded positions plus
    a per-group cost (brute force over all splits agrees); bf16 autocast pays more per group."""
    from itertools import combinations

    from microbiome_lm.train.batching import padding_for

    fp32, bf16 = padding_for("auto", True, CPU, 200), padding_for("auto", True, CPU, 200, torch.bfloat16)
    assert (fp32.group_cost, bf16.group_cost) == (30, 90)
    assert padding_for("auto", True, CPU, 32).group_cost > 1000  # toy widths: one group
    assert padding_for("auto", True, torch.device("cuda"), 200).groups == 1
    assert padding_for(4, True, CPU, 200, torch.bfloat16).groups == 4
    lengths = sorted(np.random.default_rng(3).integers(51, 402, size=10).tolist(), reverse=True)

    def cost(padding, sizes):
        starts = np.cumsum([0] + sizes[:-1])
        return sum(n * padding.width(lengths[s], 513) + padding.group_cost for s, n in zip(starts, sizes))

    def brute_force(padding):
        splits = ([b - a for a, b in zip((0, *cuts), (*cuts, len(lengths)))]
                  for k in range(len(lengths)) for cuts in combinations(range(1, len(lengths)), k))
        return min(cost(padding, s) for s in splits)

    for padding in (fp32, bf16):
        sizes = padding.group_sizes(lengths, 513)
        assert sum(sizes) == len(lengths) and cost(padding, sizes) == brute_force(padding)
    assert 1 < len(bf16.group_sizes(lengths, 513)) < len(fp32.group_sizes(lengths, 513))
