"""The persistent catalog index: ``Index.create / open``, ``add``, ``remove``, ``search``, ``info``."""
from modiste.retrieval.index.api import add_images, build_index, index_model, search
from modiste.retrieval.index.config import KINDS, IndexConfig
from modiste.retrieval.index.results import AddReport, Duplicate, SearchResults
from modiste.retrieval.index.store import Index

__all__ = ["Index", "add_images", "build_index", "index_model", "search", "IndexConfig", "KINDS", "AddReport", "Duplicate", "SearchResults"]
