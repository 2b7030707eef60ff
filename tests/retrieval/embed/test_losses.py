import math

import pytest
import torch
import torch.nn.functional as F

from modiste.retrieval.embed import MPerClassSampler, TripletLoss, pairwise_distance
from modiste.retrieval.embed.losses import _mine
from modiste.metrics.retrieval import recall_at_k

MININGS = ["batch_hard", "semi_hard", "all"]


def on_circle(degrees):
    a = torch.tensor(degrees, dtype=torch.float64) * math.pi / 180
    return torch.stack([a.cos(), a.sin()], dim=1)


def test_batch_hard_hand_computed():
    # label 0 at 0 and 60 degrees, label 1 at 90 and 180; cosine distance 1 - cos, c = 1 - cos 30
    # anchor   0: hardest pos 0.5 (60), nearest neg 1 (90)   -> 0.5 - 1 + 0.2 < 0     -> 0
    # anchor  60: hardest pos 0.5 (0),  nearest neg c (90)   -> 0.7 - c = sqrt(3)/2 - 0.3
    # anchor  90: hardest pos 1 (180),  nearest neg c (60)   -> 1.2 - c = sqrt(3)/2 + 0.2
    # anchor 180: hardest pos 1 (90),   nearest neg 1.5 (60) -> 1 - 1.5 + 0.2 < 0     -> 0
    emb, labels = on_circle([0, 60, 90, 180]), torch.tensor([0, 0, 1, 1])
    c = 1 - math.sqrt(3) / 2
    loss, stats = TripletLoss(0.2, "batch_hard", distance="cosine")(emb, labels)
    assert float(loss) == pytest.approx((math.sqrt(3) - 0.1) / 2)  # mean over the 2 active
    assert stats.active_fraction == 0.5 and stats.n_triplets == 4
    assert stats.pos_distance == pytest.approx(0.75)
    assert stats.neg_distance == pytest.approx((1 + c + c + 1.5) / 4)
    loss, _ = TripletLoss(0.2, "batch_hard", distance="cosine", reduction="mean")(emb, labels)
    assert float(loss) == pytest.approx((math.sqrt(3) - 0.1) / 4)
    # euclidean: chord 2 sin(theta / 2); the same two anchors are active
    chord = lambda deg: 2 * math.sin(math.radians(deg) / 2)  # noqa: E731
    loss, _ = TripletLoss(0.2, "batch_hard")(emb, labels)
    want = ((chord(60) - chord(30) + 0.2) + (chord(90) - chord(30) + 0.2)) / 2
    assert float(loss) == pytest.approx(want)


def test_miners_on_a_hand_made_distance_matrix():
    d = torch.tensor([[0.0, 0.5, 0.4, 0.9],
                      [0.5, 0.0, 0.3, 0.35],
                      [0.4, 0.3, 0.0, 0.8],
                      [0.9, 0.35, 0.8, 0.0]])
    same = torch.tensor([0, 0, 1, 1])[:, None] == torch.tensor([0, 0, 1, 1])[None, :]
    d_ap, d_an = _mine(d, same, "batch_hard")
    assert d_ap.tolist() == pytest.approx([0.5, 0.5, 0.8, 0.8])
    assert d_an.tolist() == pytest.approx([0.4, 0.3, 0.3, 0.35])
    # pairs (0,1), (1,0), (2,3), (3,2): anchors 0 and 3 have a negative beyond the positive
    # (0.9); anchors 1 and 2 have none and fall back to their farthest negative (0.35, 0.4)
    d_ap, d_an = _mine(d, same, "semi_hard")
    assert d_ap.tolist() == pytest.approx([0.5, 0.5, 0.8, 0.8])
    assert d_an.tolist() == pytest.approx([0.9, 0.35, 0.4, 0.9])
    d_ap, d_an = _mine(d, same, "all")
    got = sorted((round(p, 4), round(n, 4)) for p, n in zip(d_ap.tolist(), d_an.tolist()))
    assert got == sorted([(0.5, 0.4), (0.5, 0.9), (0.5, 0.3), (0.5, 0.35),
                          (0.8, 0.4), (0.8, 0.3), (0.8, 0.9), (0.8, 0.35)])


@pytest.mark.parametrize("mining", MININGS)
def test_zero_loss_when_classes_are_separated_beyond_the_margin(mining):
    labels = torch.arange(4).repeat_interleave(3)
    emb = F.one_hot(labels, 4).float().requires_grad_()  # d_ap = 0, d_an = sqrt(2)
    loss, stats = TripletLoss(0.5, mining)(emb, labels)
    assert loss.item() == 0.0 and stats.active_fraction == 0.0
    loss.backward()
    assert torch.isfinite(emb.grad).all()


@pytest.mark.parametrize("mining", MININGS)
@pytest.mark.parametrize("distance", ["euclidean", "cosine"])
def test_gradients_flow(mining, distance):
    g = torch.Generator().manual_seed(0)
    emb = torch.randn(16, 8, generator=g)
    emb = torch.cat([emb, emb[:2]]).requires_grad_()  # duplicate rows: zero distances
    labels = torch.cat([torch.arange(4).repeat(4), torch.tensor([1, 2])])
    loss, stats = TripletLoss(0.2, mining, distance=distance)(emb, labels)
    loss.backward()
    assert loss.item() > 0 and stats.active_fraction > 0
    assert torch.isfinite(emb.grad).all() and emb.grad.abs().sum() > 0


def test_pairwise_distance_matches_cdist():
    x = torch.randn(10, 5, generator=torch.Generator().manual_seed(1))
    xn = F.normalize(x, dim=1)
    off = ~torch.eye(10, dtype=torch.bool)
    d = pairwise_distance(x)
    assert torch.allclose(d[off], torch.cdist(xn, xn)[off], atol=1e-5)
    assert d.diagonal().max() < 1e-3  # sqrt turns float32 rounding of cos = 1 into ~5e-4
    assert torch.allclose(pairwise_distance(x, "cosine"), 1 - xn @ xn.T, atol=1e-6)


def test_batch_hard_equals_pytorch_metric_learning():
    pytest.importorskip("pytorch_metric_learning")
    from pytorch_metric_learning.losses import TripletMarginLoss
    from pytorch_metric_learning.miners import BatchHardMiner

    g = torch.Generator().manual_seed(2)
    emb = torch.randn(32, 16, generator=g)
    labels = torch.arange(8).repeat(4)
    emb_theirs = emb.clone().requires_grad_()
    theirs = TripletMarginLoss(margin=0.2)(emb_theirs, labels, BatchHardMiner()(emb_theirs, labels))
    emb_ours = emb.clone().requires_grad_()
    ours, _ = TripletLoss(0.2, "batch_hard")(emb_ours, labels)
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-5)
    theirs.backward()
    ours.backward()
    assert torch.allclose(emb_ours.grad, emb_theirs.grad, atol=1e-6)


def blobs(n_per_class, seed):
    # the class shows in 2 of 16 dimensions; the other 14 carry larger noise
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(4).repeat(n_per_class)
    x = torch.randn(len(labels), 16, generator=g) * 1.5
    centres = torch.tensor([[1.0, 1.0], [-1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]]) * 2.5
    x[:, :2] = centres[labels] + 0.3 * torch.randn(len(labels), 2, generator=g)
    return x, labels


@pytest.mark.parametrize("mining", ["batch_hard", "semi_hard"])
def test_training_lowers_loss_and_raises_recall(mining):
    torch.manual_seed(0)
    x, y = blobs(40, seed=3)
    x_val, y_val = blobs(25, seed=4)
    net = torch.nn.Linear(16, 8)
    criterion = TripletLoss(0.2, mining, reduction="mean")
    sampler = MPerClassSampler(y, m=4, batch_size=16, seed=0)
    opt = torch.optim.Adam(net.parameters(), lr=0.05)

    def evaluate():
        with torch.no_grad():
            emb = net(x_val)
            return float(criterion(emb, y_val)[0]), recall_at_k(emb, y_val, None, None, ks=(1,))[1]

    loss_before, recall_before = evaluate()
    for epoch in range(3):
        sampler.set_epoch(epoch)
        order = torch.tensor(list(sampler))
        for batch in order.split(sampler.batch_size):
            loss, _ = criterion(net(x[batch]), y[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
    loss_after, recall_after = evaluate()
    assert loss_after < 0.5 * loss_before
    assert recall_after > recall_before + 0.2 and recall_after > 0.9


def test_rejects_unknown_options():
    with pytest.raises(ValueError):
        TripletLoss(mining="hardest")
    with pytest.raises(ValueError):
        TripletLoss(reduction="sum")
    with pytest.raises(ValueError):
        TripletLoss(distance="manhattan")(torch.randn(4, 2), torch.tensor([0, 0, 1, 1]))


def test_supcon_is_the_mean_log_probability_of_each_anchors_positives():
    from modiste.retrieval.embed.supcon import SupConLoss

    g = torch.Generator().manual_seed(0)
    emb = torch.nn.functional.normalize(torch.randn(8, 5, generator=g), dim=1)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 2, 3])  # 3 has no positive: left out
    t = 0.1
    expected, anchors = 0.0, 0
    for a in range(8):
        others = [k for k in range(8) if k != a]
        positives = [p for p in others if labels[p] == labels[a]]
        if not positives:
            continue
        denom = torch.logsumexp(torch.stack([emb[a] @ emb[k] / t for k in others]), 0)
        expected += float(sum(denom - emb[a] @ emb[p] / t for p in positives) / len(positives))
        anchors += 1
    loss, stats = SupConLoss(temperature=t)(emb * 3.0, labels)  # any length: normalised inside
    assert loss.item() == pytest.approx(expected / anchors, rel=1e-5)
    assert stats.n_triplets == 7 and 0 <= stats.active_fraction <= 1



def test_supcon_pulls_pairs_together():
    from modiste.retrieval.embed.supcon import SupConLoss

    torch.manual_seed(0)
    emb = torch.randn(12, 8, requires_grad=True)
    labels = torch.arange(6).repeat_interleave(2)
    opt = torch.optim.SGD([emb], lr=0.5)
    first = None
    for _ in range(20):
        loss, _ = SupConLoss(0.2)(emb, labels)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first
