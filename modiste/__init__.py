"""modiste: a deep-learning workshop for fashion item images."""
__version__ = "0.1.0"
