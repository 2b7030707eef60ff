import numpy as np
import torch

from modiste.metrics.frechet import frechet_distance, frechet_distance_from_stats, mean_cov


def _sqrtm_psd(m: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh(m)
    return (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T


def test_matches_the_closed_form_for_diagonal_gaussians():
    mu1, mu2 = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    v1, v2 = torch.tensor([1.0, 4.0, 9.0]), torch.tensor([4.0, 1.0, 1.0])
    expected = ((mu1 - mu2) ** 2).sum() + (v1 + v2 - 2 * (v1 * v2).sqrt()).sum()
    got = frechet_distance_from_stats(mu1, torch.diag(v1), mu2, torch.diag(v2))
    assert abs(got - float(expected)) < 1e-9


def test_matches_a_brute_force_sqrtm_on_full_covariances():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(500, 6, generator=g) @ torch.randn(6, 6, generator=g)
    b = torch.randn(400, 6, generator=g) @ torch.randn(6, 6, generator=g) + 0.5
    mu1, s1 = (t.numpy() for t in mean_cov(a))
    mu2, s2 = (t.numpy() for t in mean_cov(b))
    r1 = _sqrtm_psd(s1)
    brute = ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * _sqrtm_psd(r1 @ s2 @ r1))
    assert abs(frechet_distance(a, b) - brute) < 1e-6 * max(1.0, brute)


def test_identical_sets_are_at_zero_and_shifts_grow_it():
    x = torch.randn(300, 4, generator=torch.Generator().manual_seed(1))
    assert abs(frechet_distance(x, x)) < 1e-6
    assert frechet_distance(x, x + 1) > frechet_distance(x, x + 0.5) > 0.2
