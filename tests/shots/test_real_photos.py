"""Real product photos: a pretrained start learns categories from 20 photos each in about a minute."""
import json

import pytest
from typer.testing import CliRunner

from modiste.cli import app


@pytest.mark.slow
def test_twenty_photos_per_class_reach_three_quarters_on_unseen_photos(real_data, tmp_path, monkeypatch):
    monkeypatch.setenv("MODISTE_CACHE", str(tmp_path / "cache"))
    root = real_data("clothing-small")
    train = real_data.per_class_sample(root / "train", tmp_path / "train", 20)
    test = real_data.per_class_sample(root / "test", tmp_path / "test", 10)
    runner = CliRunner()
    for args in (["shots", "train", train, "--out", tmp_path / "run", "--backbone", "efficientnet_lite0",
                  "--weights", "imagenet", "--epochs", 3, "--size", 160],
                 ["shots", "eval", tmp_path / "run", test]):
        result = runner.invoke(app, [str(a) for a in args])
        assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "run" / "eval" / "eval.json").read_text())
    assert report["images"] == 100
    assert report["accuracy"] >= 0.75, report
