"""``modiste synth snaps``, ``embed train/eval``, ``index build/add/remove/info`` and ``search`` end to end."""
import csv
import json

import pytest
from typer.testing import CliRunner

from modiste.cli import app

pytest.importorskip("faiss")

runner = CliRunner()


def run(*args, ok=True):
    result = runner.invoke(app, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, f"{' '.join(map(str, args))}\n{result.output}\n{result.exception!r}"
    return result


@pytest.fixture(scope="module")
def trained(tiny_catalog, tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-search")
    run("synth", "snaps", tiny_catalog.root, root / "snaps", "--per-item", 1, "--workers", 1)
    run("embed", "train", root / "snaps" / "pairs.csv", "--out", root / "embed", "--backbone", "vgg", "--size", 32,
        "--dim", 16, "--epochs", 1, "--batch", 16, "--m", 2, "--workers", 0)
    return root


def test_embed_train_writes_a_run_with_a_best_checkpoint(trained):
    assert (trained / "embed" / "checkpoints" / "best.safetensors").exists()
    config = json.loads((trained / "embed" / "config.json").read_text())
    assert config["backbone"] == "vgg" and config["dim"] == 16
    result = run("embed", "train", "--out", trained / "embed", "--epochs", 1, "--resume")
    assert "best checkpoint" in result.output  # nothing left to do: reports the best and returns


def test_index_build_search_add_remove_info(trained, tiny_catalog, tmp_path):
    rows = list(csv.DictReader(open(tiny_catalog.csv, newline="")))
    first = tmp_path / "first.csv"
    with open(first, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows[:30]:
            w.writerow({**r, "path": str(tiny_catalog.root / r["path"])})
    index = tmp_path / "index"
    out = run("index", "build", first, "--model", trained / "embed", "--out", index, "--workers", 0).output
    assert "30 added" in out

    snap = trained / "snaps" / "images" / sorted(p.name for p in (trained / "snaps" / "images").iterdir())[0]
    out = run("search", snap, "--index", index, "--k", 5, "--out", tmp_path / "res").output
    assert out.count("\n  ") >= 5 and (tmp_path / "res" / "results.png").exists()
    hits = json.loads((tmp_path / "res" / "results.json").read_text())["queries"][0]["results"]
    assert len(hits) == 5 and [h["rank"] for h in hits] == [1, 2, 3, 4, 5]
    assert hits[0]["score"] >= hits[-1]["score"] and "label" in hits[0]

    as_json = json.loads(run("search", snap, "--index", index, "--k", 3, "--json", "--out", tmp_path / "r2").output)
    assert len(as_json["queries"][0]["results"]) == 3

    # add: the whole catalog, so 30 are known and 18 new; the index finds its own model
    out = run("index", "add", index, tiny_catalog.csv, "--workers", 0).output
    assert "18 added" in out and "30 already indexed" in out
    info = json.loads(run("index", "info", index).output)
    assert info["count"] == 48 and info["dim"] == 16 and info["model"]["kind"] == "embedding"

    target = hits[0]["path"]
    run("index", "remove", index, target, hits[1]["id"])
    info = json.loads(run("index", "info", index).output)
    assert info["count"] == 46
    res = run("index", "remove", index, target, ok=False)
    assert res.exit_code != 0 and "not in the index" in res.output


def test_index_refuses_another_model(trained, tiny_catalog, tmp_path):
    other = tmp_path / "other"
    run("embed", "train", trained / "snaps" / "pairs.csv", "--out", other, "--backbone", "vgg", "--size", 32,
        "--dim", 16, "--epochs", 1, "--batch", 16, "--m", 2, "--workers", 0, "--seed", 1)
    index = tmp_path / "index"
    run("index", "build", tiny_catalog.csv, "--model", trained / "embed", "--out", index, "--workers", 0)
    res = run("index", "add", index, tiny_catalog.csv, "--model", other, ok=False)
    assert res.exit_code != 0 and "different model" in str(res.exception)


def test_embed_eval_prints_recall_and_writes_a_map(trained, tmp_path):
    out = run("embed", "eval", trained / "embed", trained / "snaps" / "pairs.csv", "--out", tmp_path / "ev",
              "--map", "pca", "--workers", 0).output
    assert "recall@1" in out and "street photos against shop photos" in out
    assert (tmp_path / "ev" / "map" / "map.html").exists()
    report = json.loads((tmp_path / "ev" / "eval.json").read_text())
    assert report["queries"] == 48 and report["references"] == 48
