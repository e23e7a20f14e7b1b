"""The finetuning classifier: what the published freezing trains, token dropout, the stacked forward."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from microbiome_lm.config import validate_config
from microbiome_lm.core.tokens import build_token_table
from microbiome_lm.model.checkpoint import save_checkpoint
from microbiome_lm.model.classifier import MemberStack, build_member, drop_tokens, finetune_start
from microbiome_lm.model.electra import build_model, electra_config
from microbiome_lm.model.encoding import attention_mask, encode_samples
from microbiome_lm.train.batching import Padding
from microbiome_lm.train.finetune_data import RunSpec, Scored
from microbiome_lm.train.finetune_loop import LockstepTrainer, Member, Settings, epoch_order, passes

from .conftest import coordinate_rows

N_TAXA, DIM, MAX_TAXA = 30, 8, 10
CFG = validate_config({"vocab": {"n_taxa": N_TAXA, "embedding_dim": DIM}, "encoding": {"max_taxa": MAX_TAXA},
                       "model": {"hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
                                 "intermediate_size": 32}})


@pytest.fixture(scope="module")
def start(tmp_path_factory):
    """A tiny pretrained discriminator, loaded as finetuning starts from it, and encoded samples."""
    rng = np.random.default_rng(1)
    vocab = rng.normal(size=(N_TAXA, DIM))
    table = build_token_table(vocab)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        disc = build_model("discriminator", electra_config(CFG["model"], "discriminator", table, MAX_TAXA), table,
                           False)
    folder = save_checkpoint(tmp_path_factory.mktemp("disc") / "epoch1", disc, {})
    array = coordinate_rows([{int(t): int(rng.integers(1, 20)) for t in
                              rng.choice(N_TAXA, int(rng.integers(2, 9)), replace=False)} for _ in range(24)], 12)
    parts = finetune_start(folder, None, CFG["model"], MAX_TAXA)
    return parts, encode_samples(array, parts[2], MAX_TAXA), rng.integers(0, 2, 24)


def member(start, seed=0, table_rows="cls", frozen=5):
    (state, config, table, cls_row), _, _ = start
    return build_member(state, config, table, cls_row, seed, table_rows, frozen)


def sgd_step(model, samples, labels):
    """One published step (MSE on p(class 1), SGD) on the first 8 samples; returns the weights before."""
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5, momentum=0.9)
    ids = samples.ids[:8]
    p1 = torch.softmax(model(ids, attention_mask(ids, model.pad_id)), -1)[:, 1]
    torch.nn.functional.mse_loss(p1, torch.tensor(labels[:8], dtype=torch.float)).backward()
    optimizer.step()
    return {k: not torch.equal(before[k], v) for k, v in model.named_parameters()}


def test_published_freezing_trains_cls_row_embedding_block_projection_and_head(start):
    """--freeze_opt 2 --freeze_encoders 5 (reference 8.2): encoder and vocabulary rows fixed."""
    _, samples, labels = start
    model = member(start)
    assert torch.count_nonzero(model.cls) == 0  # CLS restarts from zeros (reference 13 #2)
    moved = sgd_step(model, samples, labels)
    assert moved["cls"] and not moved["table"]
    assert not any(v for k, v in moved.items() if ".encoder." in k or "word_embeddings" in k)
    for name in ("embeddings.position_embeddings", "embeddings.LayerNorm", "embeddings_project", "classifier.dense",
                 "classifier.out_proj"):
        assert any(v for k, v in moved.items() if name in k), name
    table = model.token_table()
    assert not np.array_equal(table.embeddings[table.cls_id], np.zeros(DIM))
    np.testing.assert_array_equal(table.embeddings[:N_TAXA], start[0][2].embeddings[:N_TAXA])


def test_partial_freezing_and_trainable_table(start):
    _, samples, labels = start
    moved = sgd_step(member(start, table_rows="all", frozen=1), samples, labels)
    assert moved["table"] and moved["cls"]
    assert not any(v for k, v in moved.items() if ".layer.0." in k)
    assert any(v for k, v in moved.items() if ".layer.1." in k)
    fixed = sgd_step(member(start, table_rows="none", frozen=0), samples, labels)
    assert not fixed["cls"] and not fixed["table"] and any(v for k, v in fixed.items() if ".layer.0." in k)


def test_drop_tokens_keeps_cls_and_order():
    ids = torch.tensor([[40, 1, 2, 3, 4, 5, 42, 42], [40, 7, 42, 42, 42, 42, 42, 42]])
    assert torch.equal(drop_tokens(ids, 42, 0.0, torch.Generator()), ids)
    out = drop_tokens(ids.repeat(200, 1), 42, 0.5, torch.Generator().manual_seed(0))
    assert (out[:, 0] == 40).all()
    for row in out[::2]:
        kept = row[row != 42].tolist()
        assert kept[0] == 40 and kept[1:] == sorted(kept[1:]) and set(kept[1:]) <= {1, 2, 3, 4, 5}
        assert (row[len(kept):] == 42).all()  # survivors left-shifted, PAD tail
    kept_share = (out[::2, 1:] != 42).sum().item() / (200 * 5)
    assert 0.4 < kept_share < 0.6


def test_stack_equals_each_member_alone(start):
    """One concatenated forward through the shared frozen layers = each member's stock HF forward."""
    _, samples, _ = start
    for frozen in (2, 1):
        members = [member(start, seed=s, frozen=frozen) for s in (1, 2)]
        stack = MemberStack(members).eval()
        blocks = [samples.ids[:5], samples.ids[5:12]]
        with torch.no_grad():
            alone = [m(ids, attention_mask(ids, m.pad_id)) for m, ids in zip(members, blocks)]
            together = stack([(k, ids, attention_mask(ids, members[0].pad_id)) for k, ids in enumerate(blocks)])
        for a, b in zip(alone, together):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
        assert not torch.allclose(alone[0][:5], members[1](blocks[0], attention_mask(blocks[0], 32)))


@pytest.mark.parametrize("eval_dropout", [False, True])
def test_token_dropout_at_evaluation_only_when_configured(start, eval_dropout):
    _, samples, labels = start
    model = member(start)
    rows = np.arange(len(samples))
    spec = RunSpec("m1", 1, rows, [Scored("val", samples, labels, rows)])
    settings = Settings(epochs=1, batch_size=8, eval_batch_size=5, loss="mse", balanced=True, token_dropout=0.5,
                        token_dropout_eval=eval_dropout, device=torch.device("cpu"), padding=Padding())
    trainer = LockstepTrainer(MemberStack([model]), [Member.create(spec, 1)], labels, settings,
                              torch.optim.SGD(model.parameters(), lr=0.1), model.pad_id)
    trainer.score(0)
    trainer.score(1)  # same weights, the next epoch's evaluation draws
    first, second = (r["score"] for r in trainer.score_rows)
    assert np.allclose(first, second) != eval_dropout


def test_balanced_sampling_draws_classes_evenly():
    labels = np.array([1] * 10 + [0] * 90)
    rows = np.arange(100)
    draws = np.concatenate([epoch_order(rows, labels, True, torch.Generator().manual_seed(s)) for s in range(20)])
    assert draws.size == 2000 and 0.45 < labels[draws].mean() < 0.55
    assert sorted(epoch_order(rows, labels, False, torch.Generator().manual_seed(0))) == list(range(100))


def test_dynamic_padding_does_not_change_scores(start):
    _, samples, labels = start
    model = member(start)
    rows = np.arange(len(samples))
    scores = []
    for dynamic in (True, False):
        spec = RunSpec("m1", 1, rows, [Scored("val", samples, labels, rows)])
        settings = Settings(epochs=1, batch_size=8, eval_batch_size=5, loss="mse", balanced=True, token_dropout=0.0,
                            token_dropout_eval=False, device=torch.device("cpu"), padding=Padding(dynamic=dynamic))
        trainer = LockstepTrainer(MemberStack([model]), [Member.create(spec, 1)], labels, settings,
                                  torch.optim.SGD(model.parameters(), lr=0.1), model.pad_id)
        trainer.score(0)
        scores.append(trainer.score_rows[0]["score"])
    np.testing.assert_allclose(scores[0], scores[1], atol=1e-6)


def test_passes_cut_members_in_order_without_loss():
    assert passes([0, 1, 2, 3, 4], None) == [[0, 1, 2, 3, 4]]
    assert passes([0, 1, 2, 3, 4], 2) == [[0, 1], [2, 3], [4]]
    assert passes([1, 3], 5) == [[1, 3]]
    assert passes([], None) == passes([], 2) == []


@pytest.mark.parametrize("per_pass", [None, 1])
def test_scoring_an_empty_set_gives_no_rows(start, per_pass):
    _, samples, labels = start
    model = member(start)
    rows = np.arange(len(samples))
    spec = RunSpec("m1", 1, rows, [Scored("val", samples, labels, rows[:0]), Scored("test", samples, labels, rows)])
    settings = Settings(epochs=1, batch_size=8, eval_batch_size=5, loss="mse", balanced=True, token_dropout=0.0,
                        token_dropout_eval=False, device=torch.device("cpu"), padding=Padding(),
                        members_per_pass=per_pass)
    trainer = LockstepTrainer(MemberStack([model]), [Member.create(spec, 1)], labels, settings,
                              torch.optim.SGD(model.parameters(), lr=0.1), model.pad_id)
    trainer.score(0)
    empty, full = trainer.score_rows
    assert empty["score"].size == 0 and list(full["row"]) == list(rows) and full["score"].size == len(rows)
