"""Bad input, faults and misuse: one-line errors, nothing silently lost or overwritten."""
from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from modiste.cli import main
from modiste.io import atomic_write_text, output_names, remove_stale_temp_files


def _run(capsys, *args) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    return exit_.value.code, capsys.readouterr().err


# -- one-line errors ------------------------------------------------------------------------------

def test_a_usage_error_is_one_line_with_exit_2(capsys):
    code, err = _run(capsys, "gan", "train", "--bogus")
    assert code == 2 and err.startswith("error: ") and "--bogus" in err and len(err.strip().splitlines()) == 1


def test_an_expected_error_is_one_line_naming_the_file_with_exit_1(capsys, tmp_path):
    missing = tmp_path / "nothing-here"
    code, err = _run(capsys, "shots", "eval", str(missing), str(tmp_path))
    assert code == 1 and err.strip().splitlines() == [f"error: {missing}: checkpoint not found"]
    assert "Traceback" not in err


def test_modiste_debug_shows_the_traceback(monkeypatch, tmp_path):
    monkeypatch.setenv("MODISTE_DEBUG", "1")
    with pytest.raises(FileNotFoundError):
        main(["shots", "eval", str(tmp_path / "nothing-here"), str(tmp_path)])


@pytest.mark.parametrize("value", ["0", "-1"])
def test_a_budget_of_no_epochs_is_refused_before_anything_runs(capsys, tiny_catalog, tmp_path, value):
    out = tmp_path / "run"
    code, err = _run(capsys, "gan", "train", str(tiny_catalog.csv), "--out", str(out), "--epochs", value, "--size", "32")
    assert code == 1 and err.strip() == f"error: epochs must be positive, not {float(value)}"
    assert not (out / "checkpoints").exists()


def test_every_trainer_refuses_bad_numbers():
    from modiste.detect.train import DetectConfig
    from modiste.gan.config import GANConfig
    from modiste.latent.encoder import EncoderConfig
    from modiste.retrieval.embed.train import EmbedConfig
    from modiste.shots.train import ClassifyConfig
    from modiste.tryon.train import TryonConfig

    for make in (GANConfig, DetectConfig, EmbedConfig, ClassifyConfig, TryonConfig):
        for bad in (dict(epochs=0), dict(epochs=-2), dict(batch=0), dict(lr=float("nan")), dict(minutes=-1)):
            with pytest.raises(ValueError, match=next(iter(bad))):
                make(**bad)
    with pytest.raises(ValueError, match="steps"):
        EncoderConfig(steps=0)


# -- outputs that never collide -------------------------------------------------------------------

def test_output_names_mirror_subfolders_and_keep_suffixes_only_where_two_meet(tmp_path):
    names = output_names([tmp_path / "a.png", tmp_path / "a.jpg", tmp_path / "sub" / "a.png", tmp_path / "b.png"])
    assert names == ["a_png", "a_jpg", "sub/a", "b"] and len(set(names)) == 4
    assert output_names([tmp_path / "x" / "c.jpg"]) == ["c"]


def test_detect_predict_writes_one_result_per_photo_even_with_the_same_stem(tmp_path):
    from modiste.detect.model import Detector, read_predictions
    from modiste.nn import create_model

    photos = tmp_path / "photos"
    for rel in ("a.png", "a.jpg", "sub/a.png"):
        (photos / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((40, 30, 3), 128, np.uint8)).save(photos / rel)
    torch.manual_seed(0)
    det = Detector(create_model("ssd_convnext", num_classes=3, image_size=64, extra_width=16), ["a", "b", "c"],
                   score_threshold=0.0)
    results = det.predict(photos, out=tmp_path / "out")
    assert len(results) == 3
    written = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.json"))
    assert written == ["a_jpg.json", "a_png.json", "sub/a.json"]
    assert len(list((tmp_path / "out").rglob("*.jpg"))) == 3
    assert sorted(d.path for d in read_predictions(tmp_path / "out", det.classes)) == sorted(str(p) for p in
                                                                                             photos.rglob("*.*"))


# -- concurrent writers of one index ----------------------------------------------------------------

class _Model:
    """A stand-in embedding: the interface the index and search need."""

    dim, path = 8, None

    def __init__(self):
        from modiste.data.images import ImagePolicy

        self.query_policy = ImagePolicy(size=(16, 16))

    def __call__(self, x):
        return torch.nn.functional.normalize(x.float().flatten(1)[:, :8] + 1, dim=1)


def _photos(folder: Path, n: int) -> Path:
    """``n`` random 16-px photos, ``0.png`` ...; the same every time."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def test_two_adds_of_the_same_photos_at_once_report_duplicates_and_never_crash(tmp_path, monkeypatch):
    pytest.importorskip("faiss")
    from modiste.retrieval.index import Index
    from modiste.retrieval.index.meta import MetaStore

    folder = _photos(tmp_path / "photos", 6)
    embed = _Model()
    first = Index.create(tmp_path / "idx", 8, model_info={"name": "t", "image_size": 16})
    second = Index.open(tmp_path / "idx")
    # the second writer reads "nothing indexed yet" before the first commits: the race of two processes
    real = MetaStore.find_hashes
    calls = {"n": 0}

    def stale_then_real(self, hashes):
        calls["n"] += 1
        if self is second.meta and calls["n"] == 1:
            first.add(folder, embed, progress=False)  # the other process commits in between
            return {}
        return real(self, hashes)

    monkeypatch.setattr(MetaStore, "find_hashes", stale_then_real)
    report = second.add(folder, embed, progress=False)
    assert report.added == [] and len(report.duplicates) == 6
    assert len(second.ids()) == 6


def test_a_writer_waits_for_the_index_lock_and_says_so(tmp_path, capsys):
    pytest.importorskip("faiss")
    from modiste.retrieval.index import Index

    Index.create(tmp_path / "idx", 8, model_info={"name": "t", "image_size": 16}).close()
    other = Index.open(tmp_path / "idx")
    done = threading.Event()

    def second_writer():
        Index.open(tmp_path / "idx").configure(nprobe=4)  # its own connection, as another process has
        done.set()

    with other.meta.transaction():
        t = threading.Thread(target=second_writer)
        t.start()
        t.join(3.0)
        assert not done.is_set()  # still waiting while the other writer holds the lock
    t.join(10)
    assert done.is_set() and "waiting for the index lock" in capsys.readouterr().err


# -- files written atomically ---------------------------------------------------------------------

def test_atomic_files_respect_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        path = atomic_write_text(tmp_path / "f.txt", "x")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o640


def test_a_new_run_clears_the_temp_files_a_killed_one_left(tmp_path):
    from modiste.train.run import RunDir

    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    stale = tmp_path / "run" / "checkpoints" / ".latest.safetensors.x1y2.tmp"
    stale.write_bytes(b"half a checkpoint")
    keep = tmp_path / "run" / "notes.tmp"  # not one of ours: no leading dot
    keep.write_text("mine")
    RunDir(tmp_path / "run")
    assert not stale.exists() and keep.exists()
    assert remove_stale_temp_files(tmp_path / "missing") == []


def test_a_kill_between_checkpoint_and_sidecar_leaves_no_sidecar_that_disagrees(tmp_path, monkeypatch):
    from modiste.nn import checkpoint

    path = checkpoint.save(tmp_path / "c.safetensors", {"w": torch.zeros(2)}, {"step": 1})
    assert checkpoint.read_meta(path)["step"] == 1

    def killed(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "atomic_write_json", killed)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save(path, {"w": torch.ones(2)}, {"step": 2})
    assert not path.with_suffix(".json").exists()  # not the old step-1 description beside step-2 tensors
    assert checkpoint.read_meta(path)["step"] == 2


def test_a_full_disk_names_the_checkpoint_being_written(tmp_path, monkeypatch):
    from modiste.nn import checkpoint

    def full(*a, **k):
        raise RuntimeError("No space left on device (os error 28)")

    monkeypatch.setattr(checkpoint, "save_file", full)
    target = tmp_path / "run" / "latest.safetensors"
    with pytest.raises(OSError, match=f"cannot write {target}"):
        checkpoint.save(target, {"w": torch.zeros(2)}, {})
    assert list(Path(tmp_path / "run").iterdir()) == []  # no temp file left


# -- data that is almost right ---------------------------------------------------------------------

def test_an_unbalanced_quote_in_a_csv_is_reported_with_file_and_line(tmp_path, capsys):
    from modiste.data import open_dataset

    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    csv_path = tmp_path / "m.csv"
    csv_path.write_text('path,label\na.png,x\n"b.png,y\na.png,z\n')
    with pytest.raises(ValueError, match=r"m.csv, line 3: not valid CSV .*quote opened here is never closed"):
        open_dataset(csv_path)
    code, err = _run(capsys, "data", "check", str(csv_path))
    assert code == 1 and err.startswith(f"error: {csv_path}, line 3") and len(err.strip().splitlines()) == 1


def _classifier(classes):
    from modiste.nn import create_model
    from modiste.shots.model import ShotClassifier

    torch.manual_seed(0)
    return ShotClassifier(create_model("resnet_r10", num_classes=len(classes)), classes, image_size=16)


def test_sort_reads_gifs_warns_about_what_it_cannot_read_and_counts_it(tmp_path):
    from modiste.data.images import BadImageWarning
    from modiste.shots import Regulation, sort

    gallery = tmp_path / "p1"
    gallery.mkdir()
    Image.new("RGB", (16, 16), (200, 0, 0)).save(gallery / "1.png")
    Image.new("RGB", (16, 16), (0, 200, 0)).save(gallery / "2.gif")
    (gallery / "3.jpg").write_text("not a photo")
    (gallery / "4.jpg").symlink_to(tmp_path / "gone.jpg")
    reg = Regulation.from_dict({"order": ["front", "back"]}, known_types=None)
    with pytest.warns(BadImageWarning) as caught:
        result = sort(gallery, _classifier(["front", "back"]), reg, out=tmp_path / "out", progress=False)
    warned = " ".join(str(w.message) for w in caught)
    assert "3.jpg" in warned and "4.jpg" in warned
    assert sorted(Path(p.path).name for p in result[0].items) == ["1.png", "2.gif"]
    import json
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["skipped_photos"] == 2


def test_a_regulation_is_checked_against_the_classes_of_the_model_in_use(tmp_path):
    from modiste.shots import RegulationError, sort

    gallery = tmp_path / "p1"
    gallery.mkdir()
    Image.new("RGB", (16, 16)).save(gallery / "1.png")
    categories = tmp_path / "categories.yaml"
    categories.write_text("order: [dress, other]\n")
    result = sort(gallery, _classifier(["dress", "coat"]), categories, progress=False)  # a category model: fine
    assert len(result) == 1
    shots = tmp_path / "shots.yaml"
    shots.write_text("order: [near_front, far_back, other]\n")
    with pytest.raises(RegulationError, match="near_front"):  # shot types for a category model: refused
        sort(gallery, _classifier(["dress", "coat"]), shots, progress=False)
    from modiste.shots import Regulation
    with pytest.raises(RegulationError, match="'near_front'.*does not predict"):
        sort(gallery, _classifier(["dress", "coat"]), Regulation.load(shots), progress=False)


def test_coco_images_whose_file_is_missing_count_as_skipped(tmp_path):
    import json as js

    from modiste.detect.formats import read_coco
    from modiste.detect.records import BadBoxWarning  # noqa: F401  (the reader's other warning)

    Image.new("RGB", (20, 20)).save(tmp_path / "a.jpg")
    coco = {"images": [{"id": 1, "file_name": "a.jpg", "width": 20, "height": 20},
                       {"id": 2, "file_name": "gone.jpg", "width": 20, "height": 20}],
            "categories": [{"id": 1, "name": "top"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]}]}
    (tmp_path / "c.json").write_text(js.dumps(coco))
    with pytest.warns(Warning, match="gone.jpg"):
        records, classes = read_coco(tmp_path / "c.json")
    assert len(records) == 1 and list(records.skipped) == [str(tmp_path / "gone.jpg")]


def test_a_bad_image_warning_is_one_line_without_the_source_line(capsys, tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "ok.png")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    code, err = _run(capsys, "data", "check", str(tmp_path), "--size", "8", "--workers", "0")
    shown = re.findall(r"warning: [^\n\r]*", err)  # the progress bar shares stderr
    assert code == 0 and len(shown) == 1 and "broken.jpg" in shown[0], err
    assert "BadImageWarning" not in err and "warnings.warn" not in err  # Python's own format shows both


def test_an_output_that_cannot_be_written_is_refused_before_any_work(capsys, tmp_path):
    a_file = tmp_path / "taken"
    a_file.write_text("mine")
    code, err = _run(capsys, "gan", "train", str(tmp_path), "--out", str(a_file))
    assert code == 2 and "is a file, and this names a folder" in err and len(err.strip().splitlines()) == 1
    code, err = _run(capsys, "gan", "train", str(tmp_path), "--out", str(a_file / "run"))
    assert code == 2 and f"cannot write {a_file / 'run'}" in err
    code, err = _run(capsys, "shots", "predict", str(tmp_path / "no-model"), str(tmp_path), "--out", str(a_file))
    assert code == 2 and "exists; pass --overwrite" in err and a_file.read_text() == "mine"


def test_search_lists_the_queries_it_could_not_read_and_the_index_counts_its_skips(tmp_path, monkeypatch):
    pytest.importorskip("faiss")
    from modiste.retrieval.index import Index
    from modiste.retrieval.index.api import search

    folder = _photos(tmp_path / "photos", 4)
    (folder / "bad.png").write_bytes(b"not a png")

    index = Index.create(tmp_path / "idx", 8, model_info={"name": "t", "image_size": 16})
    with pytest.warns(Warning, match="bad.png"):
        index.add(folder, _Model(), progress=False)
    assert index.info()["skipped"] == 1
    import json
    assert list(json.loads((tmp_path / "idx" / "skipped.json").read_text())["files"]) == [str(folder / "bad.png")]
    import modiste.retrieval.index.api as api
    monkeypatch.setattr(api, "index_model", lambda index, model: model)  # a stand-in, not an Embedder file
    with pytest.warns(Warning, match="bad.png"):
        results = search(index, [folder / "0.png", folder / "bad.png"], k=2, model=_Model())
    assert results.info["skipped_queries"] == [str(folder / "bad.png")]
    assert results.to_json()["skipped_queries"] == [str(folder / "bad.png")]


def test_a_model_trained_again_at_the_same_path_is_named_with_both_hashes(tmp_path):
    pytest.importorskip("faiss")
    from modiste.nn import checkpoint, create_model
    from modiste.retrieval import Embedder, Index
    from modiste.retrieval.index.api import index_model

    torch.manual_seed(0)
    path = checkpoint.save_models(tmp_path / "best.safetensors", {"model": create_model("embed_vgg", dim=16, width=8)},
                                  {"kind": "embedding", "image_size": 16})
    before = Embedder.load(path)
    index = Index.create(tmp_path / "idx", 16, model_info=before.model_info())
    torch.manual_seed(1)  # trained again, written to the same file
    checkpoint.save_models(path, {"model": create_model("embed_vgg", dim=16, width=8)}, {"kind": "embedding", "image_size": 16})
    with pytest.raises(ValueError) as e:
        index_model(index, Embedder.load(path))
    old, new = before.model_info()["sha1"][:12], Embedder.load(path).model_info()["sha1"][:12]
    assert old in str(e.value) and new in str(e.value) and "modiste index build" in str(e.value)


def test_a_full_disk_during_an_index_commit_names_the_index_and_keeps_what_was_there(tmp_path, monkeypatch):
    pytest.importorskip("faiss")
    import sqlite3

    from modiste.retrieval.index import Index

    folder = _photos(tmp_path / "photos", 3)
    index = Index.create(tmp_path / "idx", 8, model_info={"name": "t", "image_size": 16})
    index.add(folder / "0.png", _Model(), progress=False)
    real = index.meta.conn

    class FullDisk:  # the connection, but COMMIT fails as SQLite does when the disk is full
        def __getattr__(self, name):
            return getattr(real, name)

        def execute(self, sql, *args):
            if sql == "COMMIT":
                real.execute("ROLLBACK")  # what SQLite does by itself
                raise sqlite3.OperationalError("database or disk is full")
            return real.execute(sql, *args)

    monkeypatch.setattr(index.meta, "conn", FullDisk())
    with pytest.raises(OSError, match=f"cannot write {tmp_path / 'idx' / 'meta.sqlite'}: database or disk is full"):
        index.add([folder / "1.png", folder / "2.png"], _Model(), progress=False)
    monkeypatch.undo()
    assert len(index.ids()) == 1 and index.items(index.ids())[0]["path"].endswith("0.png")


def test_an_add_clears_the_half_written_shard_a_killed_add_left(tmp_path):
    pytest.importorskip("faiss")
    from modiste.retrieval.index import Index

    index = Index.create(tmp_path / "idx", 8, model_info={"name": "t", "image_size": 16})
    stale = tmp_path / "idx" / "embeddings" / ".000001.npy.k1ll.tmp"
    stale.write_bytes(b"half a shard")
    index.add(_photos(tmp_path / "photos", 2), _Model(), progress=False)
    assert not stale.exists() and len(index.ids()) == 2
