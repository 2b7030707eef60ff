import json

import numpy as np
import pytest

from modiste.latent.tags import TagProbes, default_columns, fit_tags
from modiste.data.vectors import Vectors

D = 12
COLOURS = ["red", "blue", "green"]


def make(n=150, seed=0):
    """Colour and the "floral" tag are linear in the vectors; "noise" and "bold" are not."""
    rng = np.random.default_rng(seed)
    centres = 4.0 * np.eye(D)[:3]
    colour = rng.integers(0, 3, n)
    floral = rng.random(n) < 0.5
    x = rng.normal(size=(n, D)) + centres[colour]
    x[:, 5] += np.where(floral, 3.0, -3.0)
    bold = rng.random(n) < 0.5
    tags = [";".join(t for t, on in (("floral", f), ("bold", b)) if on) for f, b in zip(floral, bold)]
    cols = {
        "colour": [COLOURS[c] for c in colour],
        "noise": [str(v) for v in rng.integers(0, 2, n)],
        "tags": tags,
        "figure": ["flat"] * n,
        "path": [f"/data/{i}.png" for i in range(n)],
        "sku": [f"A{i}" for i in range(n)],
    }
    cols["tags"][0] = "floral;bold;rare"  # one tag too rare for a probe
    return Vectors(x, [f"img/{i}.png" for i in range(n)], cols, {"kind": "embedding"}), colour, floral


@pytest.fixture(scope="module")
def fitted():
    v, colour, floral = make()
    return v, fit_tags(v, folds=3)


def test_default_columns():
    v, _, _ = make(n=30)
    keep, skipped = default_columns(v)
    assert keep == ["colour", "noise", "tags", "figure"]
    assert set(skipped) == {"path", "sku"}


def test_linear_column_beats_baseline(fitted):
    _, probes = fitted
    rows = {r["probe"]: r for r in probes.report}
    colour = rows["colour"]
    assert colour["classes"] == sorted(COLOURS) and colour["n"] == 150
    assert colour["accuracy"] > 0.9 and colour["accuracy"] > colour["baseline"] + 0.4
    noise = rows["noise"]
    assert abs(noise["accuracy"] - noise["baseline"]) < 0.15


def test_multi_valued_column(fitted):
    _, probes = fitted
    rows = {r["probe"]: r for r in probes.report}
    assert rows["tags:floral"]["kind"] == "tag" and rows["tags:floral"]["classes"] == ["no", "yes"]
    assert rows["tags:floral"]["accuracy"] > 0.9
    assert rows["tags:bold"]["accuracy"] < rows["tags:floral"]["accuracy"] - 0.2
    assert "tags:rare" in probes.skipped and "tags" not in rows
    assert "figure" in probes.skipped and "figure" not in rows  # a single class
    table = probes.table()
    assert "tags:floral" in table and "figure" in table


def test_predict_new_vectors(fitted):
    _, probes = fitted
    new, colour, floral = make(n=40, seed=1)
    pred = probes.predict(new.vectors)
    assert len(pred) == 40
    got = np.array([p["colour"][0] for p in pred])
    assert (got == np.array(COLOURS)[colour]).mean() > 0.9
    assert all(0.0 <= p["colour"][1] <= 1.0 for p in pred)
    assert (np.array([p["tags:floral"][0] == "yes" for p in pred]) == floral).mean() > 0.9
    cols = probes.predict_columns(new)
    assert set(cols[0]) == {"colour", "noise", "tags"}
    assert (np.array(["floral" in c["tags"].split(";") for c in cols]) == floral).mean() > 0.9


def test_save_load_same_predictions(tmp_path, fitted):
    _, probes = fitted
    path = probes.save(tmp_path / "tags.json")
    back = TagProbes.load(path)
    new, _, _ = make(n=20, seed=2)
    assert back.predict(new.vectors) == probes.predict(new.vectors)
    assert back.report == probes.report and back.skipped == probes.skipped
    json.loads(path.read_text())  # plain JSON
    other = tmp_path / "other.json"
    other.write_text("[1, 2]")
    with pytest.raises(ValueError, match="other.json.*not a modiste tag probes"):
        TagProbes.load(other)


def test_rare_values_fold_into_other():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, D))
    pattern = ["plain"] * 20 + ["striped"] * 17 + ["dots", "checks", "paisley"]
    probes = fit_tags(Vectors(x, [str(i) for i in range(40)], {"pattern": pattern}), folds=3, min_count=2)
    (p,) = probes.probes
    assert p.classes == ["other", "plain", "striped"] and p.folded == ["checks", "dots", "paisley"]
    alone = fit_tags(Vectors(x[:21], [str(i) for i in range(21)], {"pattern": pattern[:20] + ["dots"]}), folds=3)
    assert not alone.probes and "single class" in alone.skipped["pattern"]
    with pytest.raises(ValueError, match="do not fit"):
        probes.predict(np.zeros((2, D + 1)))
