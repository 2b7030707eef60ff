"""The linear probe that starts fine-tuning from a head fitted on frozen features."""
import torch

from modiste.shots.probe import DECAYS, fit_linear, linear_probe


def blobs(n_per_class: int, seed: int, spread: float = 1.0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(4, 16, generator=torch.Generator().manual_seed(99)) * 3
    y = torch.arange(4).repeat_interleave(n_per_class)
    return centres[y] + spread * torch.randn(len(y), 16, generator=g), y


def test_the_probe_separates_separable_features_and_reports_its_choice():
    layer, report = linear_probe(blobs(30, 0), blobs(20, 1), num_classes=4)
    x, y = blobs(50, 2)
    with torch.no_grad():
        assert (layer(x).argmax(1) == y).float().mean() > 0.95
    assert report["decay"] in DECAYS and report["val_accuracy"] > 0.95


def test_more_decay_gives_smaller_weights():
    x, y = blobs(30, 0)
    small, large = fit_linear(x, y, 4, 1e-4), fit_linear(x, y, 4, 1e-1)
    assert large.weight.norm() < small.weight.norm()


def test_without_validation_the_middle_decay_is_used():
    _, report = linear_probe(blobs(10, 0), None, num_classes=4)
    assert report == {"decay": DECAYS[len(DECAYS) // 2]}
