"""A tiny trained generator and encoder, shared by the latent-space tests (trained once per session)."""
from pathlib import Path

import pytest
import torch

from modiste.gan import GAN
from modiste.latent.encoder import EncoderConfig, train_encoder
from modiste.latent.inputs import read_images


@pytest.fixture(scope="session")
def tiny_gan(tiny_catalog, tmp_path_factory) -> GAN:
    out = tmp_path_factory.mktemp("latent-gan") / "run"
    return GAN.train(tiny_catalog.csv, out=out, size=32, g_width=8, d_width=8, batch=8, kimg=0.08,
                     tick_kimg=0.04, workers=0, progress=False)


@pytest.fixture(scope="session")
def tiny_encoder_run(tiny_gan, tiny_catalog, tmp_path_factory) -> Path:
    """An encoder run folder: 12 steps on generated pairs and the catalog's photos."""
    out = tmp_path_factory.mktemp("latent-encoder") / "run"
    train_encoder(EncoderConfig(gan=str(tiny_gan.path), data=str(tiny_catalog.csv), out=str(out), width=8, steps=12,
                                batch=16, tick_steps=6, workers=0), progress=False)
    return out


@pytest.fixture(scope="session")
def catalog_images(tiny_catalog) -> torch.Tensor:
    """The catalog's 48 photos as uint8 (N, 3, 32, 32), in CSV order."""
    return read_images(tiny_catalog.csv, size=32, workers=0, progress=False).images
