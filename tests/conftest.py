import os

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
