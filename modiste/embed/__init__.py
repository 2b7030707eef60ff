"""Metric learning for item embeddings: triplet loss with in-batch mining, m-per-class sampling,
snap-like augmentation, training, evaluation and the trained model as an embedding function."""
from modiste.embed.augment import SnapAugment
from modiste.embed.data import EmbedData, read_embed_data, split_holdout
from modiste.embed.evaluate import EmbedEval, evaluate_embedding
from modiste.embed.losses import TripletLoss, TripletStats, pairwise_distance
from modiste.embed.model import EmbeddingModel
from modiste.embed.sampler import MPerClassSampler
from modiste.embed.train import EmbedConfig, train_embedding

__all__ = ["EmbedConfig", "EmbedData", "EmbedEval", "EmbeddingModel", "MPerClassSampler", "SnapAugment",
           "TripletLoss", "TripletStats", "evaluate_embedding", "pairwise_distance", "read_embed_data",
           "split_holdout", "train_embedding"]
