"""The public surface: every name importable from ``modiste``, every capability with ``train`` and
``load`` and its verbs, and every verb's result able to save itself and say itself as JSON."""
from __future__ import annotations

import inspect
import typing

import pytest

import modiste

CAPABILITIES = {
    "GAN": ("sample", "interpolate", "evaluate"),
    "Embedder": ("evaluate",),
    "Detector": ("predict", "evaluate"),
    "ShotClassifier": ("predict", "evaluate"),
    "TryOn": ("apply_csv", "evaluate"),
}


@pytest.mark.parametrize("name", [n for n in modiste.__all__ if n != "__version__"])
def test_every_public_name_imports(name):
    assert getattr(modiste, name) is not None


@pytest.mark.parametrize("name, verbs", CAPABILITIES.items())
def test_every_capability_trains_loads_and_has_its_verbs(name, verbs):
    cls = getattr(modiste, name)
    for method in ("train", "load"):
        bound = inspect.getattr_static(cls, method)
        assert isinstance(bound, classmethod), f"{name}.{method} is not a classmethod"
    train = inspect.signature(cls.train)
    assert "out" in train.parameters and train.parameters["out"].kind is inspect.Parameter.KEYWORD_ONLY
    assert "resume" in train.parameters
    for verb in verbs:
        assert callable(getattr(cls, verb, None)), f"{name} has no {verb}"


def test_the_index_builds_opens_adds_removes_and_searches():
    for method in ("build", "open"):
        assert isinstance(inspect.getattr_static(modiste.Index, method), classmethod)
    for verb in ("add", "remove", "search", "info"):
        assert callable(getattr(modiste.Index, verb))


def _result_classes():
    """The classes verbs of the surface return, read from their annotations."""
    seen = {}
    owners = [getattr(modiste, n) for n in (*CAPABILITIES, "Index")] + [modiste.latent.Boundary]
    functions = [(o, getattr(o, v)) for o in owners for v in dir(o) if not v.startswith("_") and callable(getattr(o, v))]
    functions += [(modiste, modiste.sort), (modiste, modiste.shop_the_look), (modiste.latent, modiste.latent.invert),
                  (modiste.latent, modiste.latent.catalog_map), (modiste.latent, modiste.latent.similar)]
    for owner, fn in functions:
        try:
            hints = typing.get_type_hints(fn, globalns=vars(inspect.getmodule(fn)))
        except Exception:  # annotations that name optional packages
            continue
        ret = hints.get("return")
        for t in (typing.get_args(ret) or (ret,)):
            if inspect.isclass(t) and t.__module__.startswith("modiste") and not t.__name__.endswith(("Config", "Settings")):
                seen.setdefault(t, fn.__qualname__)
    return seen


def test_every_verb_result_saves_and_says_itself_as_json():
    results = _result_classes()
    # the surface returns at least these (a check that the walk above sees the annotations)
    names = {c.__name__ for c in results}
    assert {"ImageSet", "QualityReport", "Predictions", "ClassificationReport", "DetectionMetrics", "SearchResults",
            "ShopResults", "Inversion"} <= names, names
    capabilities = {c for c in results if c.__name__ not in CAPABILITIES and c.__name__ not in ("Index", "Boundary")}
    missing = [f"{c.__name__} (from {where})" for c, where in results.items() if c in capabilities
               and not (callable(getattr(c, "save", None)) and callable(getattr(c, "to_json", None)))]
    assert not missing, f"results without save/to_json: {missing}"
