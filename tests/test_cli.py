"""The command line: groups listed, every command documented with an example, thin over the API."""
import json

import pytest
import torch
from typer.testing import CliRunner

from modiste.cli import app

runner = CliRunner()


def _commands(group=app, prefix=()):
    for info in group.registered_commands:
        yield (*prefix, info.name or info.callback.__name__)
    for sub in group.registered_groups:
        yield from _commands(sub.typer_instance, (*prefix, sub.name))


def test_top_level_help_lists_every_group_and_command():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    listed = {line.split()[0] for line in result.output.splitlines() if line.startswith("  ") and line.split()}
    visible = {info.name or info.callback.__name__ for info in app.registered_commands if not info.hidden}
    visible |= {group.name for group in app.registered_groups}
    assert len(visible) >= 15 and visible <= listed, sorted(visible - listed)
    hidden = {info.name for info in app.registered_commands if info.hidden}
    assert not hidden & listed


@pytest.mark.parametrize("command", sorted(_commands()), ids=" ".join)
def test_every_command_has_help_with_an_example(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example: modiste" in result.output


@pytest.mark.slow
def test_train_sample_interpolate_eval_through_the_cli(tiny_catalog, tmp_path):
    run = tmp_path / "run"
    result = runner.invoke(app, ["gan", "train", str(tiny_catalog.csv), "--out", str(run), "--size", "32",
                                 "--g-width", "8", "--d-width", "8", "--batch", "8", "--kimg", "0.04",
                                 "--tick-kimg", "0.04", "--workers", "0"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["gan", "sample", str(run), "--n", "4", "--seed", "7", "--out", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "s").glob("seed7_*.png"))) == 4
    from modiste.gan import GAN

    z = torch.from_numpy(__import__("numpy").load(tmp_path / "s" / "z.npy"))
    assert torch.equal(z, GAN.load(run).latents(4, 7))
    result = runner.invoke(app, ["gan", "interpolate", str(run), "--steps", "5", "--out", str(tmp_path / "i.png")])
    assert result.exit_code == 0 and (tmp_path / "i.png").exists()
    result = runner.invoke(app, ["gan", "eval", str(run), str(tiny_catalog.csv), "--n", "40",
                                 "--out", str(tmp_path / "q.json")])
    assert result.exit_code == 0, result.output
    assert "KID" in result.output and {"fd", "kid", "precision", "recall"} <= json.loads((tmp_path / "q.json").read_text()).keys()


def test_train_without_data_or_resume_is_refused(tmp_path):
    result = runner.invoke(app, ["gan", "train", "--out", str(tmp_path / "r")])
    assert result.exit_code != 0 and "DATA" in result.output


def test_data_check_reports_bad_files(tmp_path):
    from PIL import Image

    Image.new("RGB", (40, 60), "red").save(tmp_path / "a.png")
    (tmp_path / "b.jpg").write_text("not an image")
    from modiste.data import BadImageWarning

    with pytest.warns(BadImageWarning, match="b.jpg: not an image"):
        result = runner.invoke(app, ["data", "check", str(tmp_path), "--workers", "0"])
    assert result.exit_code == 0, result.output
    assert "1 usable of 2" in result.output and "b.jpg" in result.output
