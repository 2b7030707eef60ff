"""Reading image files: one safe opener and the datasets built on it."""
from modiste.data.datasets import BadSample, CSVManifest, ImageDataset, ImageFolder, ImageRecord, Sample, open_dataset
from modiste.data.loading import Batch, SkipLog, collate, make_loader, scan
from modiste.data.images import (
    IMAGE_EXTENSIONS,
    BadImageError,
    BadImageWarning,
    ImagePolicy,
    load_image,
    open_image,
    to_size,
)

__all__ = [
    "IMAGE_EXTENSIONS",
    "BadImageError",
    "BadImageWarning",
    "BadSample",
    "Batch",
    "CSVManifest",
    "ImageDataset",
    "ImageFolder",
    "ImagePolicy",
    "ImageRecord",
    "Sample",
    "SkipLog",
    "collate",
    "load_image",
    "make_loader",
    "open_dataset",
    "open_image",
    "scan",
    "to_size",
]
