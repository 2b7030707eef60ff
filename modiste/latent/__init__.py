"""Latent-space tools: invert images to codes, map a catalog, boundaries between groups, edits, tags.

Everything reads and writes :class:`Vectors` files, so the map, boundaries, probes and similarity
search also work on retrieval embeddings. ``invert(gan, photos)`` takes a GAN (or its run folder)
and photos (a folder, CSV, file or list of files); the tensor-level search it runs is
``modiste.latent.invert.invert(G, images)``.
"""
from modiste.latent.boundary import Boundary, boundary_from_column, fit_boundary
from modiste.latent.directions import Directions, ganspace, latent_pca
from modiste.latent.edit import between, edit, edit_codes, hyperplane_designs, to_hyperplane
from modiste.latent.map import CatalogMap, catalog_map
from modiste.latent.api import invert_images as invert
from modiste.latent.invert import Inversion, InversionSettings
from modiste.latent.similar import Matches, similar
from modiste.latent.tags import TagProbes, fit_tags
from modiste.data.vectors import Vectors

__all__ = ["Boundary", "CatalogMap", "catalog_map", "Directions", "Inversion", "InversionSettings", "Matches", "TagProbes", "Vectors", "between",
           "boundary_from_column", "edit", "edit_codes", "fit_boundary", "fit_tags", "ganspace", "hyperplane_designs",
           "invert", "latent_pca", "similar", "to_hyperplane"]
