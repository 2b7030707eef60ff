from collections import Counter

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from modiste.retrieval.embed import MPerClassSampler

# 12 classes of uneven size; class 11 has only 2 items, fewer than m
LABELS = [c for c in range(11) for _ in range(5 + c)] + [11, 11]


def batches(sampler):
    order = list(sampler)
    return [order[i : i + sampler.batch_size] for i in range(0, len(order), sampler.batch_size)]


def test_every_batch_has_m_items_of_batch_size_over_m_classes():
    sampler = MPerClassSampler(LABELS, m=4, batch_size=32, seed=0, length=320)
    assert len(sampler) == 320 and len(list(sampler)) == 320
    for batch in batches(sampler):
        counts = Counter(LABELS[i] for i in batch)
        assert len(counts) == 8 and set(counts.values()) == {4}
        for c in counts:
            items = [i for i in batch if LABELS[i] == c]
            if c != 11:  # a class with at least m items gives m different ones
                assert len(set(items)) == 4


def test_deterministic_per_seed_and_epoch():
    a = MPerClassSampler(LABELS, m=2, batch_size=8, seed=5)
    b = MPerClassSampler(LABELS, m=2, batch_size=8, seed=5)
    assert list(a) == list(b)
    a.set_epoch(1)
    assert list(a) != list(b)
    b.set_epoch(1)
    assert list(a) == list(b)
    assert list(MPerClassSampler(LABELS, m=2, batch_size=8, seed=6)) != list(b)


def test_default_length_is_one_pass_in_whole_batches():
    sampler = MPerClassSampler(LABELS, m=4, batch_size=16)
    assert len(sampler) == len(LABELS) // 16 * 16
    # items are taken from per-class queues, so a pass touches most of the data
    assert len(set(sampler)) > 0.6 * len(LABELS)


def test_works_with_a_dataloader():
    labels = torch.tensor(LABELS)
    sampler = MPerClassSampler(labels, m=4, batch_size=16, seed=1)
    loader = DataLoader(TensorDataset(labels), batch_size=16, sampler=sampler)
    for (y,) in loader:
        assert sorted(Counter(y.tolist()).values()) == [4, 4, 4, 4]


def test_rejects_impossible_settings():
    with pytest.raises(ValueError):
        MPerClassSampler(LABELS, m=3, batch_size=32)
    with pytest.raises(ValueError):
        MPerClassSampler([0, 0, 1, 1], m=2, batch_size=8)
