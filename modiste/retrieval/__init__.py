"""Retrieval: item embeddings trained with metric learning (``embed``), the persistent catalog
index they fill (``index``), and shop the look (detector boxes searched in the index)."""
from modiste.retrieval.embed import EmbedConfig, Embedder, evaluate_embedding, train_embedding
from modiste.retrieval.index import AddReport, Index, SearchResults, build_index, index_model, search
from modiste.retrieval.shop import shop_the_look

__all__ = ["AddReport", "EmbedConfig", "Embedder", "Index", "SearchResults", "build_index", "evaluate_embedding",
           "index_model", "search", "shop_the_look", "train_embedding"]
