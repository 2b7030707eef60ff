"""Metric learning for item embeddings: triplet loss with in-batch mining and m-per-class sampling."""
from modiste.embed.losses import TripletLoss, TripletStats, pairwise_distance
from modiste.embed.sampler import MPerClassSampler

__all__ = ["MPerClassSampler", "TripletLoss", "TripletStats", "pairwise_distance"]
