"""Tiny synthetic try-on pairs and one tiny trained run, shared by the try-on tests (read-only)."""
import pytest

SIZE = [32, 24]  # (height, width) the tests train at
TINY = dict(size=SIZE, g_width=8, g_depth=3, d_width=8, batch=8, workers=1)


@pytest.fixture(scope="session")
def tiny():
    """Settings of a tiny, fast CAGAN run (a fresh dict each test may extend)."""
    return dict(TINY)


@pytest.fixture(scope="session")
def tiny_pairs(tmp_path_factory):
    """24 pairs drawn at 48 x 64 (the synthetic minimum is 32 px a side), 6 of them in the val split."""
    from modiste.data.synth.tryon import tryon_pairs

    return tryon_pairs(tmp_path_factory.mktemp("tryon-pairs"), n=24, size=(48, 64), workers=1, progress=False,
                       val_fraction=0.25)


@pytest.fixture(scope="session")
def tiny_run(tiny_pairs, tiny, tmp_path_factory):
    from modiste.tryon.train import TryonConfig, train_tryon

    out = tmp_path_factory.mktemp("tryon-run") / "run"
    train_tryon(TryonConfig(data=str(tiny_pairs.csv), out=str(out), epochs=2, **tiny), progress=False)
    return out
