"""Procedural fashion images: garments, prints, figures and the built-in synthetic catalog.

Pieces compose: sample a ``GarmentSpec`` and a ``Body``, choose a ``Frame`` (head units ->
pixels), paint figures and garments on a ``Canvas``. ``catalog()`` does exactly that for
product shots; ``snaps()`` reuses the same pieces for street snaps of each catalog item.
"""
from modiste.data.synth.body import Body, Frame, sample_body
from modiste.data.synth.canvas import Canvas, supersample_for
from modiste.data.synth.catalog import ATTRIBUTES, COLUMNS, SYNTH_VERSION, Catalog, catalog, render_item
from modiste.data.synth.figures import FIGURES, FigureSpec, draw_figure, figure_bounds, paint_figure, sample_figure
from modiste.data.synth.garments import garment_shape
from modiste.data.synth.spec import CATEGORIES, GROUPS, GarmentSpec, Style, sample_spec
from modiste.data.synth.paint import draw_garment, paint_garment
from modiste.data.synth.palette import COLOURS
from modiste.data.synth.patterns import PATTERNS, fill_pattern
from modiste.data.synth.shots import SHOT_TYPES, Shots, galleries, render_shot, shots
from modiste.data.synth.snaps import Snaps, render_snap, snaps
from modiste.data.synth.scenes import SCENE_CATEGORIES, Scenes, render_scene, scenes
from modiste.data.synth.tryon import TryonPairs, render_pair, tryon_pairs

__all__ = [
    "ATTRIBUTES",
    "CATEGORIES",
    "COLOURS",
    "COLUMNS",
    "FIGURES",
    "GROUPS",
    "PATTERNS",
    "SCENE_CATEGORIES",
    "SHOT_TYPES",
    "SYNTH_VERSION",
    "Body",
    "Canvas",
    "Catalog",
    "Scenes",
    "Shots",
    "Snaps",
    "TryonPairs",
    "FigureSpec",
    "Frame",
    "GarmentSpec",
    "Style",
    "catalog",
    "draw_figure",
    "draw_garment",
    "figure_bounds",
    "fill_pattern",
    "galleries",
    "garment_shape",
    "paint_figure",
    "paint_garment",
    "render_item",
    "render_pair",
    "render_scene",
    "render_shot",
    "render_snap",
    "sample_body",
    "sample_figure",
    "sample_spec",
    "scenes",
    "shots",
    "snaps",
    "supersample_for",
    "tryon_pairs",
]
