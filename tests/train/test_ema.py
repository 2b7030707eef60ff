import torch
from torch import nn

from modiste.train.ema import ema_beta, recalibrate_batchnorm, update_ema


def test_beta_gives_the_half_life_in_images():
    beta = ema_beta(batch=64, images_seen=10**9, ema_kimg=10, rampup=None)
    assert abs(beta ** (10_000 / 64) - 0.5) < 1e-9
    # early in training the ramp-up shortens the half-life
    assert ema_beta(64, 6400, 10, 0.05) < beta


def test_update_moves_towards_the_model():
    ema, model = nn.Linear(3, 3), nn.Linear(3, 3)
    before = ema.weight.detach().clone()
    update_ema(ema, model, beta=0.75)
    assert torch.allclose(ema.weight, 0.75 * before + 0.25 * model.weight)


def test_recalibration_estimates_the_statistics_of_the_inputs():
    net = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    g = torch.Generator().manual_seed(0)
    batches = [torch.randn(256, 4, generator=g) * 3 + 5 for _ in range(4)]
    it = iter(batches)
    recalibrate_batchnorm(net, lambda: next(it), batches=4)
    with torch.no_grad():
        h = net[0](torch.cat(batches))
    assert not net.training
    assert torch.allclose(net[1].running_mean, h.mean(0), atol=1e-4)
    assert net[1].momentum == 0.1  # restored
