"""Image classifiers (shot types, categories): training, evaluation, prediction."""
