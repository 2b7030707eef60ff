"""Shot types after classification: a shop's regulation (house order) and sorting a product's photos by it."""
