"""Checkpoint loading: HF save_pretrained output and the published .bin layout give HF's own logits."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from transformers import ElectraConfig, ElectraForPreTraining

from microbiome_lm.core.arrays import top_k_by_abundance
from microbiome_lm.core.errors import InputError
from microbiome_lm.core.tokens import build_token_table
from microbiome_lm.model.checkpoint import load_checkpoint, save_checkpoint
from microbiome_lm.model.electra import Generator, build_model, electra_config
from microbiome_lm.model.encoding import attention_mask, encode_samples

# The published discriminator (reference 6, 7.2). An init range above HF's 0.02 makes
# every weight matter for the logits, so a loading or encoding mistake cannot hide.
PAPER = dict(vocab_size=26729, embedding_size=100, hidden_size=200, num_hidden_layers=5, num_attention_heads=5,
             intermediate_size=400, max_position_embeddings=513, initializer_range=0.05)
PUBLISHED_CONFIG = {  # reference 7.2 fields, as an older transformers wrote them
    "architectures": ["ElectraForPreTraining"], "model_type": "electra", "attention_probs_dropout_prob": 0.1,
    "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "layer_norm_eps": 1e-12, "pad_token_id": 0,
    "type_vocab_size": 2, "summary_type": "first", "summary_use_proj": True, "summary_activation": "gelu",
    "summary_last_dropout": 0.1, "position_embedding_type": "absolute", "transformers_version": "4.38.2",
    **PAPER,
}


@pytest.fixture(scope="module")
def paper(tmp_path_factory):
    """HF's own discriminator at the published size, saved by save_pretrained and as a published .bin."""
    torch.manual_seed(0)
    hf = ElectraForPreTraining(ElectraConfig(**PAPER, attn_implementation="eager")).eval()
    hf_dir = tmp_path_factory.mktemp("hf_save_pretrained")
    hf.save_pretrained(hf_dir)
    bin_dir = tmp_path_factory.mktemp("5head5layer_epoch120_disc")
    state = dict(hf.state_dict())
    state["electra.embeddings.position_ids"] = torch.arange(513).unsqueeze(0)  # the stale buffer
    torch.save(state, bin_dir / "pytorch_model.bin")
    (bin_dir / "config.json").write_text(json.dumps(PUBLISHED_CONFIG))
    vocab = np.random.default_rng(0).normal(size=(26726, 100))
    rng = np.random.default_rng(1)
    samples = np.zeros((3, 600, 2))
    for row, k in zip(samples, (600, 60, 4)):  # above the 512 cut, typical, tiny
        row[:k, 0] = np.sort(rng.choice(26726, size=k, replace=False))
        row[:k, 1] = rng.integers(1, 20, size=k)  # many ties: the tie-break matters
    return hf, hf_dir, bin_dir, vocab, samples


def reference_logits(hf, vocab, samples, cls_row, attn_implementation):
    """HF's forward on inputs_embeds built independently from the reference 4 / 7.3 recipe."""
    hf.config._attn_implementation = attn_implementation
    table = np.vstack([vocab, vocab.min(axis=0), cls_row, np.zeros(vocab.shape[1])]).astype(np.float32)
    ids = np.full((len(samples), 513), 26728)
    ids[:, 0] = 26727
    for i, row in enumerate(samples):
        top = top_k_by_abundance(row, 512)
        ids[i, 1:] = np.where(top[:, 1] > 0, top[:, 0], 26728)
    mask = torch.from_numpy((ids != 26728).astype(np.int64))
    with torch.no_grad():
        logits = hf(inputs_embeds=torch.from_numpy(table[ids]), attention_mask=mask).logits
    return logits, mask.bool()


@pytest.mark.parametrize("which,cls_init,attn", [
    ("hf_dir", "mean", "sdpa"), ("hf_dir", "zeros", "eager"), ("bin_dir", "mean", "eager"), ("bin_dir", "zeros", "sdpa"),
])
def test_logits_match_transformers(paper, which, cls_init, attn):
    hf, hf_dir, bin_dir, vocab, samples = paper
    ckpt = load_checkpoint(hf_dir if which == "hf_dir" else bin_dir, vocab_embeddings=vocab, cls_init=cls_init,
                           attn_implementation=attn)
    cls_row = vocab.mean(axis=0) if cls_init == "mean" else np.zeros(100)
    expected, active = reference_logits(hf, vocab, samples, cls_row, attn)
    enc = encode_samples(samples, ckpt.table, max_taxa=512)
    with torch.no_grad():
        ours = ckpt.model.rtd_logits(enc.ids, attention_mask(enc.ids, ckpt.table.pad_id))
        assert (ours - expected)[active].abs().max() < 1e-5
        # dynamic padding: the short samples cut to their own length give the same logits
        width = int(enc.lengths[1:].max())
        short = ckpt.model.rtd_logits(enc.ids[1:, :width], attention_mask(enc.ids[1:, :width], ckpt.table.pad_id))
    assert (short - expected[1:, :width])[active[1:, :width]].abs().max() < 1e-5
    assert ckpt.architecture == "ElectraForPreTraining"


def test_bin_is_never_unpickled(tmp_path, paper):
    _, _, bin_dir, vocab, _ = paper
    marker = tmp_path / "executed"

    class Payload:
        def __reduce__(self):
            return (marker.touch, ())

    folder = tmp_path / "evil"
    folder.mkdir()
    (folder / "config.json").write_text((bin_dir / "config.json").read_text())
    torch.save({"electra.embeddings.LayerNorm.bias": torch.zeros(100), "x": Payload()}, folder / "pytorch_model.bin")
    with pytest.raises(InputError, match="pytorch_model.bin: refused"):
        load_checkpoint(folder, vocab_embeddings=vocab)
    assert not marker.exists()


def _tiny_table(n=20, dim=8):
    return build_token_table(np.random.default_rng(2).normal(size=(n, dim)))


MODEL_CFG = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32,
             "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "attn_implementation": "sdpa",
             "initializer_range": 0.02,
             "generator": {"hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
                           "intermediate_size": 32}}


def test_own_generator_round_trip(tmp_path):
    table = _tiny_table()
    torch.manual_seed(0)
    model = build_model("generator", electra_config(MODEL_CFG, "generator", table, 10), table, True).eval()
    with torch.no_grad():
        model.embed.weight[table.cls_id] += 1.0  # a trained table row must travel with the checkpoint
    save_checkpoint(tmp_path / "epoch3", model, {"seed": 0, "epoch": 3})
    ckpt = load_checkpoint(tmp_path / "epoch3")
    assert isinstance(ckpt.model, Generator) and ckpt.meta["epoch"] == 3
    np.testing.assert_array_equal(ckpt.table.embeddings, model.embed.weight.detach().numpy())
    hf = ckpt.model.hf
    assert hf.generator_lm_head.weight is hf.electra.embeddings.word_embeddings.weight  # still tied
    ids = torch.tensor([[table.cls_id, 3, table.mask_id, 7, table.pad_id]])
    mask, sel = attention_mask(ids, table.pad_id), ids == table.mask_id
    with torch.no_grad():
        assert torch.equal(ckpt.model.masked_logits(ids, mask, sel), model.masked_logits(ids, mask, sel))
        # the masked-only head equals the full head read at the selected positions
        torch.testing.assert_close(model.masked_logits(ids, mask, sel), model(ids, mask).logits[sel])


def test_bad_checkpoints_name_the_problem(tmp_path, paper):
    _, hf_dir, bin_dir, vocab, _ = paper
    with pytest.raises(InputError, match="checkpoint directory not found"):
        load_checkpoint(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no config.json"):
        load_checkpoint(tmp_path / "empty")
    with pytest.raises(InputError, match="no token table; pass the vocabulary embeddings"):
        load_checkpoint(hf_dir)
    with pytest.raises(InputError, match="expects vocab_size 26729"):
        load_checkpoint(hf_dir, vocab_embeddings=vocab[:100])
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "config.json").write_text((bin_dir / "config.json").read_text())
    state = torch.load(bin_dir / "pytorch_model.bin", weights_only=True)
    state["discriminator.head.weight"] = torch.zeros(1)
    torch.save(state, extra / "pytorch_model.bin")
    with pytest.raises(InputError, match=r"unexpected \['discriminator.head.weight'\]"):
        load_checkpoint(extra, vocab_embeddings=vocab)
