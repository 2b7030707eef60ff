"""``modiste shots train/eval/predict``, ``modiste sort`` and ``sort eval`` on synthetic shot photos."""
import csv
import hashlib
import json

import pytest
from typer.testing import CliRunner

from modiste.cli import app, main

runner = CliRunner()

REGULATION = """\
name: test-shop
order:
  - near_front
  - [far_front, far_side]
  - other
  - brand_tag
  - wash_tag
tie_break: confidence
"""


def run(*args, ok=True):
    result = runner.invoke(app, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, f"{' '.join(map(str, args))}\n{result.output}\n{result.exception!r}"
    return result


@pytest.fixture(scope="module")
def shots_run(tmp_path_factory):
    from modiste.data.synth.shots import galleries, shots

    root = tmp_path_factory.mktemp("shots")
    s = shots(root / "data", n_products=4, size=32, workers=1, progress=False)
    galleries(root / "data", s)
    run("shots", "train", root / "data" / "images", "--out", root / "run", "--backbone", "micro", "--size", 32,
        "--epochs", 2, "--batch", 16, "--workers", 0)
    (root / "reg.yaml").write_text(REGULATION)
    return root


def digests(folder):
    return {p.relative_to(folder): (hashlib.sha1(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_shots_eval_and_predict(shots_run, tmp_path):
    out = run("shots", "eval", shots_run / "run", shots_run / "data" / "images", "--out", tmp_path / "ev",
              "--workers", 0).output
    assert "accuracy" in out and "macro-F1" in out and (tmp_path / "ev" / "confusion.png").exists()
    out = run("shots", "predict", shots_run / "run", shots_run / "data" / "galleries" / "p00000",
              "--out", tmp_path / "p.csv").output
    rows = list(csv.DictReader(open(tmp_path / "p.csv", newline="")))
    assert rows and all(0 < float(r["confidence"]) <= 1 for r in rows)


def test_sort_copies_in_order_and_never_touches_originals(shots_run, tmp_path):
    gal = shots_run / "data" / "galleries"
    before = digests(gal)
    out = run("sort", gal, "--model", shots_run / "run", "--regulation", shots_run / "reg.yaml", "--out",
              tmp_path / "sorted", "--copy").output
    assert "4 galleries sorted" in out
    assert digests(gal) == before  # originals unchanged, nothing added or removed
    for product in ("p00000", "p00001", "p00002", "p00003"):
        order = list(csv.DictReader(open(tmp_path / "sorted" / product / "order.csv", newline="")))
        originals = sorted(p.name for p in (gal / product).iterdir())
        assert sorted(o["path"].split("/")[-1] for o in order) == originals  # every photo exactly once
        copies = sorted(p.name for p in (tmp_path / "sorted" / product).iterdir() if p.name[:2].isdigit())
        assert [c.split("_", 1)[0] for c in copies] == [f"{i:02d}" for i in range(1, len(originals) + 1)]
    res = run("sort", gal, "--model", shots_run / "run", "--regulation", shots_run / "reg.yaml", "--out", gal / "p00000",
              ok=False)
    assert res.exit_code != 0 and digests(gal) == before


def test_sort_eval_reports_the_three_scores(shots_run, tmp_path, capsys):
    gal = shots_run / "data" / "galleries"
    with pytest.raises(SystemExit) as done:
        main(["sort", "eval", str(gal), "--truth", str(gal / "truth.csv"), "--model", str(shots_run / "run"),
              "--regulation", str(shots_run / "reg.yaml"), "--out", str(tmp_path / "r.json")])
    assert done.value.code == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["galleries"] == 4
    for key in ("exact_order", "position_accuracy", "shot_accuracy"):
        assert 0 <= report[key] <= 1
    assert "Kendall's tau" in capsys.readouterr().out


def test_invalid_regulation_names_the_line(shots_run, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("order:\n  - near_front\n  - near_fornt\n")
    res = run("sort", shots_run / "data" / "galleries", "--model", shots_run / "run", "--regulation", bad,
              "--out", tmp_path / "o", ok=False)
    assert res.exit_code != 0 and "bad.yaml:3" in str(res.exception)
