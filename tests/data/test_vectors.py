"""Vectors: the one .npz format for codes and embeddings, with paths and attribute columns."""
import json

import numpy as np
import pytest

from modiste.data.vectors import Vectors


def make(n=5, d=3, seed=0) -> Vectors:
    rng = np.random.default_rng(seed)
    return Vectors(rng.normal(size=(n, d)), [f"imgs/{i}.png" for i in range(n)],
                   {"group": ["a", "b", "a", "c", "a"][:n], "note": [f"n{i}" for i in range(n)]},
                   {"kind": "embedding", "source": "test"})


def test_save_load_round_trip(tmp_path):
    v = make()
    v.paths[1] = "imgs/robe d'été ✓.png"  # non-ASCII names survive the str arrays
    v.columns["note"][2] = ""
    path = v.save(tmp_path / "v.npz")
    back = Vectors.load(path)
    assert back.vectors.dtype == np.float32 and np.array_equal(back.vectors, v.vectors)
    assert back.paths == v.paths
    assert back.columns == v.columns
    assert back.meta == {"kind": "embedding", "source": "test"}
    assert (len(back), back.dim) == (5, 3)
    assert [f.name for f in tmp_path.iterdir()] == ["v.npz"]  # the atomic write leaves no temporary file


def test_round_trip_without_columns_or_items(tmp_path):
    empty = Vectors(np.zeros((0, 4)), [])
    back = Vectors.load(empty.save(tmp_path / "e.npz"))
    assert back.vectors.shape == (0, 4) and back.paths == [] and back.columns == {} and back.meta == {}


def test_values_are_kept_as_strings():
    v = Vectors(np.zeros((2, 1)), ["a", "b"], {"n": [1, 2.5]})
    assert v.columns["n"] == ["1", "2.5"]


def test_subset_by_index_and_by_mask():
    v = make()
    s = v.subset([3, 0])
    assert s.paths == ["imgs/3.png", "imgs/0.png"]
    assert np.array_equal(s.vectors, v.vectors[[3, 0]])
    assert s.columns["group"] == ["c", "a"] and s.meta == v.meta
    m = v.subset(np.array([False, True, False, True, False]))
    assert m.paths == ["imgs/1.png", "imgs/3.png"]
    s.meta["kind"] = "changed"
    assert v.meta["kind"] == "embedding"  # a subset's meta is its own copy


def test_where_keeps_matching_items_in_order():
    v = make()
    a = v.where("group", "a")
    assert a.paths == ["imgs/0.png", "imgs/2.png", "imgs/4.png"]
    assert np.array_equal(a.vectors, v.vectors[[0, 2, 4]])
    none = v.where("group", "zzz")
    assert len(none) == 0 and none.dim == 3 and none.columns["group"] == []
    with pytest.raises(KeyError, match="no column 'colour'.*group, note"):
        v.where("colour", "red")


def test_shape_mismatches_are_refused():
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        Vectors(np.zeros(3), ["a", "b", "c"])
    with pytest.raises(ValueError, match="3 vectors but 2 paths"):
        Vectors(np.zeros((3, 2)), ["a", "b"])
    with pytest.raises(ValueError, match="column 'g' has 2 values for 3 vectors"):
        Vectors(np.zeros((3, 2)), ["a", "b", "c"], {"g": ["x", "y"]})


def test_join_csv_by_resolved_path(tmp_path):
    (tmp_path / "imgs").mkdir()
    v = Vectors(np.zeros((3, 2)), [str(tmp_path / "imgs" / f"{i}.png") for i in range(3)], {"old": ["p", "q", "r"]})
    csv = tmp_path / "labels.csv"
    # one path relative to the CSV's folder, one absolute, one item missing from the CSV
    csv.write_text(f"path,label,colour\nimgs/0.png,dress,red\n{tmp_path / 'imgs' / '2.png'},coat,blue\n")
    j = v.join_csv(csv)
    assert j.columns["label"] == ["dress", "", "coat"]
    assert j.columns["colour"] == ["red", "", "blue"]
    assert j.columns["old"] == ["p", "q", "r"]
    assert "path" not in j.columns
    assert "label" not in v.columns  # the original is left as it was


def test_join_csv_by_file_name_when_folders_differ(tmp_path):
    v = Vectors(np.zeros((2, 2)), ["/elsewhere/photos/a.png", "/elsewhere/photos/b.png"])
    csv = tmp_path / "c.csv"
    csv.write_text("file,label\nimages/b.png,skirt\nimages/a.png,shirt\n")
    assert v.join_csv(csv, path_column="file").columns["label"] == ["shirt", "skirt"]


def test_join_csv_reads_a_spreadsheet_bom_and_short_rows(tmp_path):
    v = Vectors(np.zeros((2, 2)), ["a.png", "b.png"])
    csv = tmp_path / "c.csv"
    csv.write_bytes("\ufeffpath,label,colour\na.png,dress\nb.png,coat,red\n".encode("utf-8"))
    j = v.join_csv(csv)
    assert j.columns["label"] == ["dress", "coat"]
    assert j.columns["colour"] == ["", "red"]


def test_join_csv_without_the_path_column(tmp_path):
    csv = tmp_path / "c.csv"
    csv.write_text("file,label\na.png,dress\n")
    with pytest.raises(ValueError, match=r"c\.csv: no 'path' column \(columns: file, label\)"):
        make().join_csv(csv)
    header_only = tmp_path / "h.csv"
    header_only.write_text("file,label\n")
    with pytest.raises(ValueError, match="no 'path' column"):
        make().join_csv(header_only)


def _bad_files(tmp_path):
    np.save(tmp_path / "array.npy", np.zeros((3, 2)))
    (tmp_path / "empty.npz").write_bytes(b"")
    (tmp_path / "text.npz").write_text("vectors,paths\n")
    np.savez(tmp_path / "novectors.npz", paths=np.array(["a"]))
    np.savez(tmp_path / "flat.npz", vectors=np.zeros(3))
    np.savez(tmp_path / "mismatch.npz", vectors=np.zeros((3, 2)), paths=np.array(["a"]))
    np.savez(tmp_path / "badmeta.npz", vectors=np.zeros((1, 2)), paths=np.array(["a"]), meta=np.array("{not json"))
    return ["array.npy", "empty.npz", "text.npz", "novectors.npz", "flat.npz", "mismatch.npz", "badmeta.npz"]


def test_a_file_that_is_not_vectors_gives_a_value_error_naming_it(tmp_path):
    for name in _bad_files(tmp_path):
        with pytest.raises(ValueError, match=rf"{name}: not a modiste vectors file"):
            Vectors.load(tmp_path / name)
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        Vectors.load(tmp_path / "missing.npz")


def test_meta_is_json_in_the_file(tmp_path):
    path = make().save(tmp_path / "v.npz")
    with np.load(path, allow_pickle=False) as z:
        assert json.loads(str(z["meta"]))["kind"] == "embedding"
        assert z["vectors"].shape == (5, 3) and list(z["col.group"]) == ["a", "b", "a", "c", "a"]
