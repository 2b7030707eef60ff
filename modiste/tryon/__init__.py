"""Virtual try-on (CAGAN, Jetchev & Bergmann 2017): show a person wearing another article.

``TryOn.train(pairs, out=...)`` trains on (person, article worn) pairs, ``TryOn.load(run)`` loads
the best checkpoint, ``tryon(person, article, target)`` returns the person wearing ``target``
and the alpha mask of what changed, ``tryon.evaluate(pairs)`` measures it.
"""
from modiste.tryon.apply import TryOn, as_image
from modiste.tryon.data import PairsData, TryonDataset, load_pairs, read_pairs
from modiste.tryon.evaluate import TryonEval, evaluate_tryon
from modiste.tryon.results import TryOnResult
from modiste.tryon.train import TryonConfig, train_tryon
from modiste.tryon.wear import embed_pairs

__all__ = ["TryOn", "TryOnResult", "TryonConfig", "TryonDataset", "TryonEval", "PairsData", "as_image",
           "embed_pairs", "evaluate_tryon", "load_pairs", "read_pairs", "train_tryon"]
