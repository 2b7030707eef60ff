"""Detection of fashion items in street photos: an SSD-style detector on a feature pyramid, box
datasets (COCO, YOLO), augmentation that keeps boxes, mAP, and the detector as an object."""
from modiste.detect.augment import DetectionTransform, to_pixels
from modiste.detect.boxes import VARIANCES, postprocess
from modiste.detect.model import Detections, Detector
from modiste.detect.train import DetectConfig, train_detector

__all__ = ["DetectConfig", "DetectionTransform", "Detections", "Detector", "VARIANCES", "postprocess", "to_pixels",
           "train_detector"]
