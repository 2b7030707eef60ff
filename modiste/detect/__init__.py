"""Detection of fashion items in street photos: an SSD-style detector, box datasets, mAP, shop the look."""
