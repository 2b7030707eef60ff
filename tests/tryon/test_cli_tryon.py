"""``modiste synth tryon`` and ``modiste tryon train/apply/eval/embed-pairs`` through the CLI."""
import json
import warnings

from PIL import Image
from typer.testing import CliRunner

from modiste.cli import app

runner = CliRunner()


def run(*args, ok=True):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = runner.invoke(app, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, f"{' '.join(map(str, args))}\n{result.output}\n{result.exception!r}"
    return result


def test_synth_train_apply_eval(tmp_path):
    data = tmp_path / "pairs"
    assert "wrote 20 pairs" in run("synth", "tryon", data, "--n", 20, "--width", 48, "--height", 64, "--val-fraction",
                                   0.25, "--workers", 1).output
    out = run("tryon", "train", data / "pairs.csv", "--out", tmp_path / "run", "--size", "32x24", "--g-width", 8,
              "--d-width", 8, "--epochs", 2, "--batch", 8, "--workers", 1).output
    assert "best checkpoint" in out and (tmp_path / "run" / "checkpoints" / "best.safetensors").exists()
    out = run("tryon", "train", "--out", tmp_path / "run", "--epochs", 3, "--resume").output
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["epochs"] == 3.0

    person, article, target = data / "person" / "000000.png", data / "article" / "000000.png", data / "article" / "000001.png"
    out = run("tryon", "apply", tmp_path / "run", "--person", person, "--article", article, "--target", target,
              "--out", tmp_path / "result.png").output
    assert "alpha area" in out
    assert Image.open(tmp_path / "result.png").size == (24, 32)
    assert Image.open(tmp_path / "result_alpha.png").mode == "L"
    missing = run("tryon", "apply", tmp_path / "run", "--person", person, "--target", target, ok=False)
    assert missing.exit_code != 0 and "--article" in missing.output

    (data / "apply.csv").write_text("person,article,target\nperson/000002.png,article/000002.png,article/000003.png\n")
    assert "1 try-on (0 rows skipped)" in run("tryon", "apply", tmp_path / "run", "--pairs", data / "apply.csv",
                                                "--out", tmp_path / "batch").output
    assert (tmp_path / "batch" / "000002-000003.png").exists()

    out = run("tryon", "eval", tmp_path / "run", data / "pairs.csv", "--no-fd", "--out", tmp_path / "ev").output
    assert "cycle_l1" in out and "alpha_area" in out
    assert (tmp_path / "ev" / "eval.json").exists() and (tmp_path / "ev" / "sheet.png").exists()

    out = run("tryon", "embed-pairs", data / "pairs.csv", tmp_path / "wear", "--size", "32x24").output
    lines = (tmp_path / "wear" / "pairs.csv").read_text().splitlines()
    assert lines[0] == "query,catalog,item" and len(lines) > 10 and "modiste embed train" in out


def test_train_needs_pairs_or_resume(tmp_path):
    result = run("tryon", "train", "--out", tmp_path / "run", ok=False)
    assert result.exit_code != 0 and "PAIRS" in result.output
    bad = run("tryon", "train", tmp_path, "--out", tmp_path / "r", "--size", "128", ok=False)
    assert bad.exit_code != 0 and "HEIGHTxWIDTH" in bad.output
