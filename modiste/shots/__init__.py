"""Gallery ordering: the shot-type (or category) classifier, a shop's regulation (house order), and
sorting each product's photos by it."""
from modiste.shots.api import evaluate_sorting, sort
from modiste.shots.model import ClassificationReport, Prediction, Predictions, ShotClassifier
from modiste.shots.regulation import Regulation, RegulationError
from modiste.shots.sort import SortedGallery
from modiste.shots.train import ClassifyConfig, train_classifier

__all__ = ["ClassificationReport", "ClassifyConfig", "Prediction", "Predictions", "Regulation", "RegulationError",
           "ShotClassifier", "SortedGallery", "evaluate_sorting", "sort", "train_classifier"]
