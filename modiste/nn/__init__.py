"""Networks: every architecture is a named factory in the registry (``registry.py``, which imports
no model); importing this package imports the model files, whose ``@register_model`` fill it."""
from modiste.nn import (cagan, convnext, dcgan, efficientnet, embedding, encoder, features, projected,  # noqa: F401
                        resnet, ssd, upconv)
from modiste.nn.registry import create_model, list_models, register_model

__all__ = ["create_model", "list_models", "register_model"]
