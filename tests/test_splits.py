"""Protocol splits: host blocking, tolerance acceptance, seeding, the published protocol-B draw, errors."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from microbiome_lm.cli import main
from microbiome_lm.core.errors import InputError
from microbiome_lm.evaluate.splits import host_blocked_split, random_validation_split, read_split, write_split


def cohort(n_hosts=300, seed=0, positive_rate=0.2):
    """Hosts with 1-4 samples each; the label is mostly a host trait, as IBD status is."""
    rng = np.random.default_rng(seed)
    hosts, labels = {}, []
    for h in range(n_hosts):
        size = int(rng.integers(1, 5))
        trait = rng.random() < positive_rate
        hosts[f"host{h:03d}"] = list(range(len(labels), len(labels) + size))
        labels += [int(trait if rng.random() > 0.1 else not trait) for _ in range(size)]
    return np.array(labels), hosts


def host_of(hosts):
    return {i: h for h, rows in hosts.items() for i in rows}


def test_host_blocked_split_invariants():
    labels, hosts = cohort()
    split = host_blocked_split(labels, hosts, seed=1, source="task ibd")
    parts = split.parts()
    every = np.concatenate(list(parts.values()))
    assert np.array_equal(np.sort(every), np.arange(labels.size))  # every row exactly once
    owner = host_of(hosts)
    seen = [{owner[i] for i in rows} for rows in parts.values()]
    assert not (seen[0] & seen[1]) and not (seen[0] & seen[2]) and not (seen[1] & seen[2])
    for rows, target in zip(parts.values(), (0.7, 0.1, 0.2)):
        assert abs(rows.size / labels.size - target) <= 0.1 * target
        assert abs(labels[rows].mean() - labels.mean()) <= 0.1 * labels.mean()
    assert split.attempts >= 1


def test_same_seed_same_split_other_seed_other_split():
    labels, hosts = cohort()
    a = host_blocked_split(labels, hosts, seed=3)
    b = host_blocked_split(labels, dict(reversed(list(hosts.items()))), seed=3)  # mapping order is irrelevant
    c = host_blocked_split(labels, hosts, seed=4)
    for name in ("train", "val", "test"):
        assert np.array_equal(a.parts()[name], b.parts()[name])
    assert not np.array_equal(a.test, c.test)


def test_tolerance_is_enforced():
    labels, hosts = cohort()
    loose = host_blocked_split(labels, hosts, seed=2, tolerance=0.5)
    tight = host_blocked_split(labels, hosts, seed=2, tolerance=0.02, max_attempts=20_000)
    assert tight.attempts > loose.attempts
    assert abs(labels[tight.val].mean() - labels.mean()) <= 0.02 * labels.mean()


def test_single_class_task_is_named():
    labels, hosts = cohort()
    with pytest.raises(InputError, match="task fruit.*single class"):
        host_blocked_split(np.zeros_like(labels), hosts, seed=1, source="task fruit")


def test_impossible_balance_fails_with_a_clear_error():
    # one host carries every positive: no host split can put positives into all three parts
    labels, hosts = cohort(positive_rate=0.0)
    labels[:] = 0
    hosts["big_positive"] = list(range(labels.size, labels.size + 40))
    labels = np.concatenate([labels, np.ones(40, dtype=int)])
    with pytest.raises(InputError, match=r"task ibd.*no host-blocked split.*after 200 attempts"):
        host_blocked_split(labels, hosts, seed=1, max_attempts=200, source="task ibd")


@pytest.mark.parametrize("change,message", [
    (lambda h: h.pop("host000"), "covers"),
    (lambda h: h.__setitem__("extra", [10_000]), "outside"),
    (lambda h: h.__setitem__("dup", [0]), "more than one host"),
])
def test_labels_and_hosts_must_match(change, message):
    labels, hosts = cohort()
    change(hosts)
    with pytest.raises(InputError, match=message):
        host_blocked_split(labels, hosts, seed=1, source="total_IBD_label.npy")


def test_too_few_hosts_for_a_non_empty_split():
    labels = np.array([0, 1, 0, 1, 1, 0])
    hosts = {f"h{i}": [2 * i, 2 * i + 1] for i in range(3)}
    with pytest.raises(InputError, match="3 hosts are too few.*val split would be empty"):
        host_blocked_split(labels, hosts, seed=1, tolerance=10)


def test_cross_gen_split_reproduces_the_published_draw():
    labels, _ = cohort()
    for seed in (1, 5):
        split = random_validation_split(labels, seed, val_frac=0.1)
        np.random.seed(seed)  # begin.py, protocol B
        indices = np.arange(labels.size)
        np.random.shuffle(indices)
        n_val = int(labels.size * 0.1)
        assert np.array_equal(split.val, np.sort(indices[:n_val]))
        assert np.array_equal(split.train, np.sort(indices[n_val:]))
        assert split.test.size == 0


def test_cross_gen_split_optionally_blocks_hosts():
    labels, hosts = cohort()
    split = random_validation_split(labels, 2, val_frac=0.1, host_to_indices=hosts)
    owner = host_of(hosts)
    assert not {owner[i] for i in split.val} & {owner[i] for i in split.train}
    assert split.val.size >= int(labels.size * 0.1)
    assert split.val.size + split.train.size == labels.size


def test_cross_gen_single_class_validation_is_an_error():
    labels = np.zeros(50, dtype=int)
    labels[0] = 1
    with pytest.raises(InputError, match="single class"):
        random_validation_split(labels, 1, val_frac=0.1, source="task ibd")


def test_split_tsv_round_trip(tmp_path):
    labels, hosts = cohort()
    split = host_blocked_split(labels, hosts, seed=1)
    write_split(tmp_path / "s.tsv", split, hosts)
    table = pd.read_csv(tmp_path / "s.tsv", sep="\t")
    assert list(table.columns) == ["row", "split", "host"]
    assert table.groupby("host")["split"].nunique().max() == 1
    back = read_split(tmp_path / "s.tsv", n_rows=labels.size)
    assert all(np.array_equal(back.parts()[k], split.parts()[k]) for k in ("train", "val", "test"))
    with pytest.raises(InputError, match="does not cover"):
        read_split(tmp_path / "s.tsv", n_rows=labels.size + 1)


def test_split_command_writes_tsv_and_fails_cleanly(tmp_path, capsys):
    labels, hosts = cohort()
    np.save(tmp_path / "labels.npy", labels[:, None])
    with open(tmp_path / "hosts.pkl", "wb") as handle:
        pickle.dump(hosts, handle)
    out = tmp_path / "out" / "ibd_seed1.tsv"
    args = ["split", "--task", "ibd", "--labels", str(tmp_path / "labels.npy"), "--hosts", str(tmp_path / "hosts.pkl"),
            "--seed", "1", "--out", str(out)]
    assert main([*args, "--protocol", "host_blocked"]) == 0
    assert set(pd.read_csv(out, sep="\t")["split"]) == {"train", "val", "test"}

    np.save(tmp_path / "labels.npy", np.zeros((labels.size, 1), dtype=int))
    bad_out = tmp_path / "out" / "bad.tsv"
    assert main([*args[:-1], str(bad_out), "--protocol", "cross_gen"]) == 2
    assert "task ibd" in capsys.readouterr().err
    assert not bad_out.exists()
