"""Design generation: DCGAN-family generators trained on garment photos."""
from modiste.gan.config import GANConfig
from modiste.gan.model import GAN
from modiste.gan.quality import QualityReport

__all__ = ["GAN", "GANConfig", "QualityReport"]
