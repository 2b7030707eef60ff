import os
from pathlib import Path

import pytest
import torch

# Two cores: keep torch from oversubscribing when pytest runs beside DataLoader workers.
torch.set_num_threads(min(2, os.cpu_count() or 1))


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")


def pytest_collection_modifyitems(config, items):
    skip_slow = pytest.mark.skip(reason="slow: pass --runslow to run")
    skip_gpu = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "slow" in item.keywords and not config.getoption("--runslow"):
            item.add_marker(skip_slow)
        if "gpu" in item.keywords and not torch.cuda.is_available():
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def tiny_catalog(tmp_path_factory):
    """48 synthetic product images at 32 px with their CSV (shared, read-only)."""
    from modiste.data.synth import catalog

    return catalog(tmp_path_factory.mktemp("catalog"), n=48, size=32, seed=0, workers=1, progress=False)


class RealData:
    """The real development photos (``$MODISTE_DATASETS``, else ``shared/datasets`` beside the
    project's folder), for the checks that use them: skipped where they are absent."""

    root = Path(os.environ.get("MODISTE_DATASETS") or Path(__file__).resolve().parents[2] / "shared" / "datasets")

    def __call__(self, name: str) -> Path:
        path = self.root / name
        if not path.is_dir():
            pytest.skip(f"real-photo check: {path} is not here")
        return path

    @staticmethod
    def per_class_sample(split: Path, out: Path, n: int) -> Path:
        """Class folders of the first ``n`` photos (by name) of each class of ``split``, as symlinks."""
        for cls in sorted(p for p in split.iterdir() if p.is_dir()):
            (out / cls.name).mkdir(parents=True)
            for photo in sorted(cls.iterdir())[:n]:
                (out / cls.name / photo.name).symlink_to(photo)
        return out


@pytest.fixture
def real_data():
    return RealData()
