import math

import numpy as np
import pytest
import torch

from modiste.metrics.ssim import ssim


def brute_force_ssim(a: np.ndarray, b: np.ndarray, size: int = 11, sigma: float = 1.5) -> float:
    """Window by window, one channel at a time: the definition written out."""
    c1, c2 = 0.01**2, 0.03**2
    r = np.arange(size) - (size - 1) / 2
    g = np.exp(-(r**2) / (2 * sigma**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    vals = []
    for ch in range(a.shape[0]):
        for i in range(a.shape[1] - size + 1):
            for j in range(a.shape[2] - size + 1):
                pa, pb = a[ch, i : i + size, j : j + size], b[ch, i : i + size, j : j + size]
                ma, mb = (w * pa).sum(), (w * pb).sum()
                va, vb = (w * pa * pa).sum() - ma**2, (w * pb * pb).sum() - mb**2
                cov = (w * pa * pb).sum() - ma * mb
                vals.append((2 * ma * mb + c1) * (2 * cov + c2) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
    return float(np.mean(vals))


def test_matches_the_definition_written_out():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(2, 3, 14, 13, generator=g)
    b = (a + 0.2 * torch.randn(2, 3, 14, 13, generator=g)).clamp(0, 1)
    exact, fast = ssim(a.double(), b.double()), ssim(a, b)  # float64 in, float64 maths; float32 in, float32
    for i in range(2):
        want = brute_force_ssim(a[i].double().numpy(), b[i].double().numpy())
        assert math.isclose(exact[i].item(), want, rel_tol=1e-6)
        assert abs(fast[i].item() - want) < 1e-4


def test_identical_is_one_and_noise_lowers_it_monotonically():
    g = torch.Generator().manual_seed(1)
    a = torch.rand(1, 3, 32, 32, generator=g)
    noise = torch.randn(1, 3, 32, 32, generator=g)
    scores = [ssim(a, (a + s * noise).clamp(0, 1)).item() for s in (0.0, 0.05, 0.2, 0.5)]
    assert scores[0] == pytest.approx(1.0, abs=1e-6)
    assert scores == sorted(scores, reverse=True)


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="one shape"):
        ssim(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9))
