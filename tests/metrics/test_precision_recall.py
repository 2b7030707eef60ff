import pytest
import torch

from modiste.metrics.precision_recall import knn_radii, precision_recall


def test_hand_computed_case():
    # real points on a line 0..9 (k=1 radius 1 each); fakes: two inside the real manifold, two far away
    real = torch.arange(10.0)[:, None]
    fake = torch.tensor([[0.5], [8.2], [50.0], [51.0]])
    assert torch.equal(knn_radii(real, 1), torch.ones(10))
    precision, recall = precision_recall(real, fake, k=1)
    assert precision == 0.5
    # fake radii (k=1): 7.7, 7.7, 1, 1 -> balls around 0.5 and 8.2 cover reals 0..9 (all 10)
    assert recall == 1.0


def test_mode_collapse_keeps_precision_and_loses_recall():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(300, 2, generator=g)
    collapsed = torch.randn(300, 2, generator=g) * 0.05
    precision, recall = precision_recall(real, collapsed, k=3)
    assert precision > 0.9 and recall < 0.3


def test_too_few_points_is_an_error():
    with pytest.raises(ValueError, match="k=3"):
        precision_recall(torch.zeros(3, 2), torch.zeros(10, 2))
