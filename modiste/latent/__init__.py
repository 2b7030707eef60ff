"""Latent-space tools: invert images to codes, map a catalog, boundaries between groups, edits, tags."""
from modiste.latent.vectors import Vectors

__all__ = ["Vectors"]
