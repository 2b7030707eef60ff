"""Metric learning for item embeddings: triplet loss with in-batch mining, m-per-class sampling,
snap-like augmentation, training, evaluation and the trained model as an embedding function."""
from modiste.data.augment import SnapAugment
from modiste.retrieval.embed.data import EmbedData, read_embed_data, split_holdout
from modiste.retrieval.embed.evaluate import EmbedEval, evaluate_embedding
from modiste.retrieval.embed.losses import TripletLoss, TripletStats, pairwise_distance
from modiste.retrieval.embed.model import Embedder
from modiste.retrieval.embed.sampler import MPerClassSampler
from modiste.retrieval.embed.train import EmbedConfig, train_embedding

__all__ = ["EmbedConfig", "EmbedData", "EmbedEval", "Embedder", "MPerClassSampler", "SnapAugment",
           "TripletLoss", "TripletStats", "evaluate_embedding", "pairwise_distance", "read_embed_data",
           "split_holdout", "train_embedding"]
