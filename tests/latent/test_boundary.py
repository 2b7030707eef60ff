import json

import numpy as np
import pytest
import torch

from modiste.latent.boundary import Boundary, boundary_from_column, fit_boundary
from modiste.data.vectors import Vectors

D = 16


def blobs(n=60, shift=3.0, seed=0, axis=None):
    rng = np.random.default_rng(seed)
    axis = np.eye(D)[0] if axis is None else axis
    pos = rng.normal(size=(n, D)) + shift / 2 * axis
    neg = rng.normal(size=(n, D)) - shift / 2 * axis
    return pos.astype(np.float32), neg.astype(np.float32)


@pytest.fixture(scope="module")
def separable():
    pos, neg = blobs(shift=6.0)
    return pos, neg, fit_boundary(pos, neg, pos_name="red", neg_name="blue")


def unit(v):
    return v / np.linalg.norm(v)


def test_separable_blobs(separable):
    pos, neg, b = separable
    assert b.accuracy > 0.95
    assert abs(np.linalg.norm(b.normal) - 1) < 1e-9
    assert abs(b.normal[0]) > 0.8  # the blobs differ along the first axis
    assert (b.distance(pos) > 0).mean() > 0.95 and (b.distance(neg) < 0).mean() > 0.95
    assert (b.n_pos, b.n_neg, b.pos, b.neg) == (60, 60, "red", "blue")


def test_distance_types_and_hyperplane(separable):
    pos, _, b = separable
    d = b.distance(pos[0])
    assert np.ndim(d) == 0
    t = b.distance(torch.from_numpy(pos))
    assert isinstance(t, torch.Tensor) and t.shape == (60,)
    np.testing.assert_allclose(t.numpy(), b.distance(pos), atol=1e-4)
    on = b.to_hyperplane(pos)
    assert on.dtype == np.float32 and np.abs(b.distance(on)).max() < 1e-5
    on_t = b.to_hyperplane(torch.from_numpy(pos).double())
    assert torch.abs(b.distance(on_t)).max() < 1e-5


def test_move_shapes_and_steps(separable):
    pos, _, b = separable
    amounts = [-2.0, 0.0, 1.5]
    one = b.move(pos[0], amounts)
    assert one.shape == (3, D)
    np.testing.assert_allclose(b.distance(one) - b.distance(pos[0]), amounts, atol=1e-5)
    many = b.move(pos[:4], amounts)
    assert many.shape == (4, 3, D)
    steps = b.distance(many.reshape(-1, D)).reshape(4, 3) - b.distance(pos[:4])[:, None]
    np.testing.assert_allclose(steps, np.tile(amounts, (4, 1)), atol=1e-5)
    moved_t = b.move(torch.from_numpy(pos[:4]), 1.0)
    assert isinstance(moved_t, torch.Tensor) and moved_t.shape == (4, 1, D)
    with pytest.raises(ValueError, match="dimensions"):
        b.move(np.zeros(D + 1), 1.0)


def test_condition_orthogonal():
    rng = np.random.default_rng(1)
    a = Boundary(unit(rng.normal(size=D)), 0.7, "a", "not a")
    c1 = Boundary(unit(a.normal + rng.normal(size=D)), -0.3, "c1", "x")
    c2 = Boundary(unit(rng.normal(size=D)), 1.1, "c2", "y")
    for others in [(c1,), (c1, c2)]:
        cond = a.condition(*others)
        assert abs(np.linalg.norm(cond.normal) - 1) < 1e-9
        for o in others:
            assert abs(cond.normal @ o.normal) < 1e-6
        z = rng.normal(size=(10, D))
        assert np.abs(cond.distance(cond.to_hyperplane(z))).max() < 1e-6
        # Moving along the conditioned normal leaves the other attributes' distances alone.
        moved = cond.move(z, 2.0)[:, 0]
        for o in others:
            np.testing.assert_allclose(o.distance(moved), o.distance(z), atol=1e-9)
        assert cond.conditioned_on == [o.name for o in others]
    # A code on all the boundaries keeps distance 0 on the conditioned one: the new plane holds the intersection.
    z = rng.normal(size=D)
    for _ in range(50):
        for bd in (a, c1, c2):
            z = bd.to_hyperplane(z)
    assert max(abs(bd.distance(z)) for bd in (a, c1, c2)) < 1e-6
    assert abs(a.condition(c1, c2).distance(z)) < 1e-6


def test_condition_errors():
    e = np.eye(D)
    a, b, c, d = (Boundary(e[i], 0.0, str(i), "-") for i in range(4))
    with pytest.raises(ValueError, match="one or two"):
        a.condition(b, c, d)
    with pytest.raises(ValueError, match="parallel"):
        a.condition(Boundary(-e[0], 1.0))
    with pytest.raises(ValueError, match="parallel"):
        a.condition(b, Boundary(2 * e[1], 0.5))
    with pytest.raises(ValueError, match="parallel"):
        a.condition(b, Boundary(unit(e[0] + e[1]), 0.0))


def test_save_load_round_trip(tmp_path, separable):
    _, _, b = separable
    cond = b.condition(Boundary(unit(np.arange(D, dtype=float)), 0.2, "p", "q"))
    for bd in (b, cond):
        path = bd.save(tmp_path / "b.json")
        back = Boundary.load(path)
        np.testing.assert_array_equal(back.normal, bd.normal)
        assert back.to_json() == bd.to_json()
    assert "red vs blue" in repr(back)


def test_load_rejects_other_files(tmp_path):
    other = tmp_path / "run.json"
    other.write_text(json.dumps({"epochs": 3}))
    with pytest.raises(ValueError, match=r"run\.json.*not a modiste boundary"):
        Boundary.load(other)
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    with pytest.raises(ValueError, match="garbage.json"):
        Boundary.load(garbage)
    with pytest.raises(FileNotFoundError):
        Boundary.load(tmp_path / "missing.json")


def test_identical_groups_near_chance():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(160, D))
    b = fit_boundary(x[:80], x[80:], folds=4)
    assert 0.3 < b.accuracy < 0.7


def test_input_errors():
    x = np.zeros((5, D))
    with pytest.raises(ValueError, match="at least 2"):
        fit_boundary(x, x[:1])
    with pytest.raises(ValueError, match="dimensions"):
        fit_boundary(x, np.zeros((5, D + 1)))


def test_boundary_from_column_and_max_per_class():
    pos, neg = blobs(n=40, shift=6.0, seed=3)
    rng = np.random.default_rng(3)
    other = rng.normal(size=(10, D)).astype(np.float32) - 3 * np.eye(D)[0]
    x = np.concatenate([pos, neg, other])
    colour = ["red"] * 40 + ["blue"] * 40 + ["green"] * 5 + [""] * 5
    v = Vectors(x, [f"{i}.png" for i in range(len(x))], {"colour": colour}, {"kind": "gan-latent"})
    b = boundary_from_column(v, "colour", "red", folds=3)
    assert (b.n_pos, b.n_neg, b.neg, b.space) == (40, 45, "not red", "gan-latent")  # unlabelled items left out
    assert b.accuracy > 0.95 and b.extra["column"] == "colour"
    small = boundary_from_column(v, "colour", "red", "blue", max_per_class=10, folds=3)
    assert (small.n_pos, small.n_neg) == (10, 10)
    with pytest.raises(ValueError, match="values: blue, green, red"):
        boundary_from_column(v, "colour", "purple")
