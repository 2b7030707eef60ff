import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from modiste.metrics.retrieval import map_at_r, recall_at_k, retrieval_report


def on_circle(degrees):
    a = torch.tensor(degrees, dtype=torch.float64) * math.pi / 180
    return torch.stack([a.cos(), a.sin()], dim=1)


def test_hand_computed_query_vs_reference():
    # refs at 10 A, 20 B, 30 A, 40 A, 90 B degrees.
    # q0 at 0 (A):  order A B A A B, R=3: AP = (1/1 + 2/3) / 3 = 5/9, hit at rank 1
    # q1 at 95 (B): order B A A B A, R=2: AP = (1/1) / 2 = 1/2,       hit at rank 1
    # q2 at 33 (B): order A A B A B, R=2: top 2 holds no B, AP = 0,   first hit at rank 3
    # q3 at 60 (C): no reference labelled C, so left out
    ref = on_circle([10, 20, 30, 40, 90])
    ref_labels = ["A", "B", "A", "A", "B"]
    query = on_circle([0, 95, 33, 60])
    query_labels = ["A", "B", "B", "C"]
    rec = recall_at_k(query, query_labels, ref, ref_labels, ks=(1, 2, 3))
    assert rec == pytest.approx({1: 2 / 3, 2: 2 / 3, 3: 1.0})
    assert map_at_r(query, query_labels, ref, ref_labels) == pytest.approx(19 / 54)
    report = retrieval_report(query, query_labels, ref, ref_labels, ks=(1, 3))
    assert report == pytest.approx({"recall@1": 2 / 3, "recall@3": 1.0, "map@r": 19 / 54,
                                    "n_queries": 3, "n_queries_without_match": 1})


def test_hand_computed_same_set_excludes_self():
    # items at 0 A, 10 A, 25 B, 45 A, 52 B degrees; each ranks the other four.
    # i0: A B A B  R=2 AP 1/2, hit rank 1    i1: A B A B  R=2 AP 1/2, hit rank 1
    # i2: A A A B  R=1 AP 0,   hit rank 4    i3: B B A A  R=2 AP 0,   hit rank 3
    # i4: A B A A  R=1 AP 0,   hit rank 2
    emb = on_circle([0, 10, 25, 45, 52])
    labels = torch.tensor([0, 0, 1, 0, 1])
    rec = recall_at_k(emb, labels, emb, labels, ks=(1, 2, 3, 4), same_set=True)
    assert rec == pytest.approx({1: 2 / 5, 2: 3 / 5, 3: 4 / 5, 4: 1.0})
    assert map_at_r(emb, labels, emb, labels, same_set=True) == pytest.approx(1 / 5)
    # None for the references means the same set
    assert recall_at_k(emb, labels, None, None, ks=(1,)) == pytest.approx({1: 2 / 5})
    # without the exclusion every item finds itself first
    assert recall_at_k(emb, labels, emb, labels, ks=(1,))[1] == 1.0


def brute_force(q, ql, r, rl, ks, same_set):
    q, r = F.normalize(q.double(), dim=1).numpy(), F.normalize(r.double(), dim=1).numpy()
    ql, rl = ql.numpy(), rl.numpy()
    hits, aps = {k: [] for k in ks}, []
    for i in range(len(q)):
        idx = np.argsort(-(r @ q[i]), kind="stable")
        if same_set:
            idx = idx[idx != i]
        rel = rl[idx] == ql[i]
        n_rel = rel.sum()
        if n_rel == 0:
            continue
        for k in ks:
            hits[k].append(rel[:k].any())
        top = rel[:n_rel]
        aps.append(sum(top[:j + 1].sum() / (j + 1) for j in range(n_rel) if top[j]) / n_rel)
    return {k: float(np.mean(v)) for k, v in hits.items()}, float(np.mean(aps))


@pytest.mark.parametrize("same_set", [False, True])
def test_matches_brute_force_on_random_data(same_set):
    g = torch.Generator().manual_seed(0)
    q = torch.randn(60, 8, generator=g)
    ql = torch.randint(0, 7, (60,), generator=g)
    r, rl = (q, ql) if same_set else (torch.randn(90, 8, generator=g), torch.randint(0, 7, (90,), generator=g))
    ks = (1, 5, 10, 20)
    want_recall, want_map = brute_force(q, ql, r, rl, ks, same_set)
    for chunk in (7, 1024):  # chunk boundaries must not change the result
        report = retrieval_report(q, ql, r, rl, ks, same_set=same_set, chunk=chunk)
        assert [report[f"recall@{k}"] for k in ks] == pytest.approx([want_recall[k] for k in ks])
        assert report["map@r"] == pytest.approx(want_map)


def test_perfect_embedding_scores_one():
    labels = torch.arange(5).repeat_interleave(6)
    emb = F.one_hot(labels, 8).float() + 0.01 * torch.randn(30, 8, generator=torch.Generator().manual_seed(1))
    report = retrieval_report(emb, labels, same_set=True)
    assert report["recall@1"] == report["recall@20"] == 1.0
    assert report["map@r"] == pytest.approx(1.0)


def test_random_embedding_is_near_chance():
    g = torch.Generator().manual_seed(2)
    n, classes = 1000, 10
    labels = torch.arange(classes).repeat(n // classes)
    report = retrieval_report(torch.randn(n, 32, generator=g), labels, same_set=True, ks=(1, 10))
    p = (n // classes - 1) / (n - 1)  # chance that one neighbour shares the label
    assert report["recall@1"] == pytest.approx(p, abs=0.04)
    assert report["recall@10"] == pytest.approx(1 - (1 - p) ** 10, abs=0.06)
    assert report["map@r"] < 0.05  # about p**2 plus a small early-rank term


def test_agrees_with_pytorch_metric_learning():
    pytest.importorskip("pytorch_metric_learning")
    from pytorch_metric_learning.distances import CosineSimilarity
    from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
    from pytorch_metric_learning.utils.inference import CustomKNN

    g = torch.Generator().manual_seed(3)
    emb = torch.randn(200, 16, generator=g)
    labels = torch.randint(0, 12, (200,), generator=g)
    calc = AccuracyCalculator(include=("precision_at_1", "mean_average_precision_at_r"),
                              k="max_bin_count", knn_func=CustomKNN(CosineSimilarity()))
    for ref, ref_labels in [(None, None), (emb[100:], labels[100:])]:
        query, query_labels = (emb, labels) if ref is None else (emb[:100], labels[:100])
        theirs = calc.get_accuracy(query, query_labels, ref, ref_labels)
        ours = retrieval_report(query, query_labels, ref, ref_labels, ks=(1,))
        assert ours["recall@1"] == pytest.approx(theirs["precision_at_1"], abs=1e-6)
        assert ours["map@r"] == pytest.approx(theirs["mean_average_precision_at_r"], abs=1e-6)


def test_rejects_bad_input():
    emb, labels = torch.randn(4, 3), [0, 0, 1, 1]
    with pytest.raises(ValueError):
        recall_at_k(emb, labels, emb[:3], labels[:3], same_set=True)
    with pytest.raises(ValueError):
        recall_at_k(emb, labels[:3], emb, labels)
    with pytest.raises(ValueError):
        recall_at_k(emb, labels, emb, labels, ks=(0,))
