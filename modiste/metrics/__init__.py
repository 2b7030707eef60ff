"""Metrics, one per file."""
from modiste.metrics.frechet import frechet_distance
from modiste.metrics.kid import kernel_distance
from modiste.metrics.precision_recall import precision_recall

__all__ = ["frechet_distance", "kernel_distance", "precision_recall"]
