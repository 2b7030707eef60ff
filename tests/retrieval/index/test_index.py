import csv
import json
import shutil
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("faiss")

from modiste.data.datasets import CSVManifest  # noqa: E402
from modiste.data.images import BadImageWarning, ImagePolicy  # noqa: E402
from modiste.retrieval.index import Index, IndexConfig  # noqa: E402
from modiste.retrieval.index.meta import MetaStore  # noqa: E402

SIZE = 16
DIM = 32
N = 20
MODEL = {"name": "random-projection", "image_size": SIZE}


def _projection():
    g = torch.Generator().manual_seed(0)
    return torch.randn(3 * SIZE * SIZE, DIM, generator=g)


PROJ = _projection()


def embed(images):
    x = images.float().flatten(1) / 255 - 0.5
    v = x @ PROJ
    return torch.nn.functional.normalize(v, dim=1)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for i in range(N):
        pixels = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / f"item_{i:02d}.png")
    return root


def files(folder):
    return sorted(folder.glob("*.png"))


def build(path, folder, **kw):
    index = Index.create(path, DIM, model_info=MODEL, **{k: v for k, v in kw.items() if k in ("kind", "config")})
    report = index.add(folder, embed, progress=False, batch=kw.get("batch", 8))
    return index, report


def by_path(index):
    paths = [item["path"] for item in index.items(index.ids())]
    return dict(zip(paths, index.vectors()))


def test_build_then_each_image_finds_itself(tmp_path, folder):
    index, report = build(tmp_path / "idx", folder)
    assert len(report.added) == N and not report.duplicates and report.skipped.count == 0
    res = index.search(index.vectors(), k=5)
    assert (res.ids[:, 0] == index.ids()).all()
    np.testing.assert_allclose(res.scores[:, 0], 1.0, atol=1e-5)
    assert res.paths[0][0] == str(files(folder)[0].resolve())
    assert (tmp_path / "idx" / "meta.sqlite").exists() and (tmp_path / "idx" / "faiss.index").exists()
    assert len(list((tmp_path / "idx" / "embeddings").glob("*.npy"))) == 3  # 20 files in batches of 8


def test_readding_adds_nothing_and_reports_duplicates(tmp_path, folder):
    index, _ = build(tmp_path / "idx", folder)
    again = index.add(folder, embed, progress=False)
    assert again.added == [] and len(again.duplicates) == N
    assert all(d.same_file for d in again.duplicates)
    copy = tmp_path / "copy.png"
    shutil.copy(files(folder)[3], copy)
    report = index.add([copy], embed, progress=False)
    assert report.added == [] and len(report.duplicates) == 1
    dup = report.duplicates[0]
    assert not dup.same_file and dup.item_path == str(files(folder)[3].resolve())
    info = index.info()
    assert info["count"] == N and info["duplicates"] == 1


def test_duplicates_within_one_add(tmp_path, folder):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    shutil.copy(files(folder)[0], a)
    shutil.copy(files(folder)[0], b)
    index = Index.create(tmp_path / "idx", DIM, model_info=MODEL)
    report = index.add([a, b], embed, progress=False)
    assert len(report.added) == 1 and [d.path for d in report.duplicates] == [str(b.resolve())]


def test_bad_files_are_skipped_with_a_warning_naming_them(tmp_path, folder):
    (tmp_path / "broken.png").write_bytes(b"not a png at all")
    good = files(folder)[:2]
    index = Index.create(tmp_path / "idx", DIM, model_info=MODEL)
    with pytest.warns(BadImageWarning) as caught:
        report = index.add([good[0], tmp_path / "broken.png", tmp_path / "missing.png", good[1]], embed, progress=False)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 2 and "broken.png" in messages[0] and "missing.png: file not found" in messages[1]
    assert len(report.added) == 2 and report.skipped.count == 2


def test_remove_by_id_and_path(tmp_path, folder):
    index, _ = build(tmp_path / "idx", folder)
    ids = index.ids()
    gone = index.remove([int(ids[0]), int(ids[5])]) + index.remove(files(folder)[7])
    assert gone == [int(ids[0]), int(ids[5]), int(ids[7])]
    res = index.search(np.random.default_rng(1).normal(size=(8, DIM)).astype(np.float32), k=N)
    assert not set(gone) & set(res.ids.ravel().tolist())
    assert (res.ids[:, : N - 3] >= 0).all() and (res.ids[:, N - 3 :] == -1).all()
    assert index.info()["count"] == N - 3
    with pytest.raises(KeyError, match="no_such.png"):
        index.remove([int(ids[1]), "no_such.png"])
    assert len(index) == N - 3  # all or nothing
    readded = index.add(folder, embed, progress=False)
    assert len(readded.added) == 3 and min(readded.added) > int(ids.max())  # ids are never reused


def test_reopen_gives_identical_results(tmp_path, folder):
    index, _ = build(tmp_path / "idx", folder)
    q = index.vectors()[::3]
    before = index.search(q, k=4)
    index.close()
    with Index.open(tmp_path / "idx") as again:
        after = again.search(q, k=4)
        assert again.model_info == MODEL and again.dim == DIM
    np.testing.assert_array_equal(before.ids, after.ids)
    np.testing.assert_allclose(before.scores, after.scores)


@pytest.mark.parametrize("damage", ["delete", "garbage", "stale"])
def test_damaged_faiss_file_is_rebuilt(tmp_path, folder, damage):
    index, _ = build(tmp_path / "idx", folder)
    q = index.vectors()
    before = index.search(q, k=3)
    index.close()
    faiss_file = tmp_path / "idx" / "faiss.index"
    if damage == "delete":
        faiss_file.unlink()
    elif damage == "garbage":
        faiss_file.write_bytes(b"\x00garbage" * 10)
    else:  # a file from other embeddings: the fingerprint no longer matches
        sidecar = tmp_path / "idx" / "faiss.index.json"
        meta = json.loads(sidecar.read_text())
        sidecar.write_text(json.dumps({**meta, "fingerprint": "0" * 40}))
    with Index.open(tmp_path / "idx") as again:
        after = again.search(q, k=3)
    np.testing.assert_array_equal(before.ids, after.ids)
    np.testing.assert_allclose(before.scores, after.scores, atol=1e-6)
    assert faiss_file.stat().st_size > 100
    assert json.loads((tmp_path / "idx" / "faiss.index.json").read_text())["ntotal"] == N


def test_crash_mid_build_resumes_without_loss_or_doubles(tmp_path, folder):
    reference, _ = build(tmp_path / "ref", folder, batch=4)
    calls = []

    def flaky(images):
        calls.append(len(images))
        if len(calls) == 3:
            raise RuntimeError("killed")
        return embed(images)

    index = Index.create(tmp_path / "idx", DIM, model_info=MODEL)
    with pytest.raises(RuntimeError, match="killed"):
        index.add(folder, flaky, batch=4, progress=False)
    index.close()
    resumed = Index.create(tmp_path / "idx", DIM, model_info=MODEL, exist_ok=True)
    assert len(resumed) == 8
    report = resumed.add(folder, embed, batch=4, progress=False)
    assert len(report.added) == N - 8 and len(report.duplicates) == 8
    assert len(resumed) == N and len(set(item["path"] for item in resumed.items(resumed.ids()))) == N
    np.testing.assert_array_equal(resumed.ids(), reference.ids())
    ref, got = by_path(reference), by_path(resumed)
    assert ref.keys() == got.keys()
    for path in ref:
        np.testing.assert_array_equal(ref[path], got[path])


def test_crash_between_shard_write_and_commit(tmp_path, folder, monkeypatch):
    index = Index.create(tmp_path / "idx", DIM, model_info=MODEL)
    real_insert = MetaStore.insert
    calls = []

    def insert_then_die(self, conn, items, shard):
        calls.append(shard)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_insert(self, conn, items, shard)

    monkeypatch.setattr(MetaStore, "insert", insert_then_die)
    with pytest.raises(KeyboardInterrupt):
        index.add(folder, embed, batch=8, progress=False)
    monkeypatch.undo()
    assert len(index) == 8 and (tmp_path / "idx" / "embeddings" / "000002.npy").exists()
    index.add(folder, embed, batch=8, progress=False)
    reference, _ = build(tmp_path / "ref", folder)
    assert len(index) == N and index.info()["unused_shards"] == 0
    np.testing.assert_array_equal(index.vectors(), reference.vectors())


def test_hnsw_agrees_with_flat_and_ivfpq_runs(tmp_path, folder):
    flat, _ = build(tmp_path / "flat", folder, kind="flat")
    hnsw, _ = build(tmp_path / "hnsw", folder, kind="hnsw")
    q = flat.vectors() + 0.01 * np.random.default_rng(2).normal(size=(N, DIM)).astype(np.float32)
    np.testing.assert_array_equal(flat.search(q, k=1).ids, hnsw.search(q, k=1, ef_search=16).ids)
    assert hnsw.search(q, k=1).info["kind"] == "hnsw"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # IVF-PQ on 20 vectors warns that it is coarse
        hnsw.configure(kind="ivfpq", nprobe=4)
        res = hnsw.search(q, k=5)
    assert res.info["kind"] == "ivfpq" and set(res.ids.ravel()) <= set(flat.ids())


def test_auto_kind_follows_catalog_size():
    config = IndexConfig(flat_max=10)
    assert config.resolve_kind(10) == "flat" and config.resolve_kind(11) == "hnsw"
    assert IndexConfig(kind="ivfpq").resolve_kind(5) == "ivfpq"
    with pytest.raises(ValueError, match="kind"):
        IndexConfig(kind="lsh")


def test_metadata_from_a_csv_and_search_results_outputs(tmp_path, folder):
    manifest = tmp_path / "items.csv"
    with open(manifest, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "colour", "tags"])
        for i, p in enumerate(files(folder)[:6]):
            w.writerow([p, "dress" if i % 2 else "shirt", f"c{i}", "summer;cotton"])
    index = Index.create(tmp_path / "idx", DIM, model_info={"name": "proj"})
    index.add(CSVManifest(manifest), embed, policy=ImagePolicy(size=SIZE), columns=["colour"], progress=False)
    item = index.items([index.ids()[1]])[0]
    assert item["label"] == "dress" and item["tags"] == ["summer", "cotton"] and item["colour"] == "c1"
    res = index.search_images(files(folder)[:2], embed, k=3, policy=ImagePolicy(size=SIZE))
    j = res.to_json()
    assert j["queries"][1]["results"][0]["colour"] == "c1" and j["queries"][1]["results"][0]["rank"] == 1
    out = res.save(tmp_path / "out")
    sheet = Image.open(out / "results.png")
    assert sheet.size == (4 * (96 + 2) + 2, 2 * (96 + 2) + 2)
    assert json.loads((out / "results.json").read_text())["k"] == 3


def test_worker_decoding_matches_in_process(tmp_path, folder):
    index = Index.create(tmp_path / "idx", DIM, model_info=MODEL)
    index.add(folder, embed, batch=8, num_workers=1, progress=False)
    reference, _ = build(tmp_path / "ref", folder)
    np.testing.assert_array_equal(index.vectors(), reference.vectors())


def test_create_and_open_errors(tmp_path, folder):
    Index.create(tmp_path / "idx", DIM, model_info=MODEL).close()
    with pytest.raises(FileExistsError):
        Index.create(tmp_path / "idx", DIM, model_info=MODEL)
    with pytest.raises(ValueError, match="different|not 16"):
        Index.create(tmp_path / "idx", 16, model_info=MODEL, exist_ok=True)
    with pytest.raises(FileNotFoundError):
        Index.open(tmp_path / "nothing")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "meta.sqlite").write_bytes(b"x" * 200)
    with pytest.raises(ValueError, match="not a modiste index"):
        Index.open(tmp_path / "junk")
    index = Index.open(tmp_path / "idx")
    with pytest.raises(ValueError, match="normalised"):
        index.add(files(folder)[:1], lambda x: torch.ones(len(x), DIM), progress=False)
    with pytest.raises(ValueError, match="shape"):
        index.search(np.zeros((2, DIM + 1), np.float32))


def test_hit_metadata_is_read_on_first_use_and_skips_items_removed_since(tmp_path, folder):
    index, _ = build(tmp_path / "ix", folder)
    query = index.vectors()[:2]
    results = index.search(query, k=3)
    assert callable(results.hits)  # the search itself read no metadata
    first = int(results.ids[0, 0])
    index.remove(first)
    rows = results.items
    assert not callable(results.hits) and results.items is rows  # read once, then kept
    assert first not in [item["id"] for item in rows[0]] and len(rows[0]) == 2
    assert all(item["id"] in set(results.ids[1].tolist()) for item in rows[1])


def test_hits_can_be_read_after_the_index_is_closed(tmp_path, folder):
    with build(tmp_path / "ix", folder)[0] as index:
        results = index.search(index.vectors()[:1], k=2)
    assert [item["id"] for item in results.items[0]] == results.ids[0].tolist()
    assert results.save(tmp_path / "out").exists()


def test_add_vectors_round_trips_and_reports_duplicates(tmp_path, folder):
    reference, _ = build(tmp_path / "ref", folder)
    vectors, items = reference.vectors(), reference.items(reference.ids())
    index = Index.create(tmp_path / "idx", DIM, model_info=MODEL)
    rows = [{"path": it["path"], "sha1": it["sha1"], "label": "dress", "tags": "a;b", "colour": "red"} for it in items]
    report = index.add_vectors(vectors, rows, batch=7)  # several batches
    assert len(report.added) == N and not report.duplicates
    np.testing.assert_array_equal(index.vectors(), vectors)
    got = index.items([report.added[3]])[0]
    assert (got["path"], got["label"], got["tags"], got["colour"]) == (items[3]["path"], "dress", ["a", "b"], "red")
    # The same content again, and the same file again: duplicates, nothing added.
    again = index.add_vectors(vectors[:2], [items[0]["path"], {"path": tmp_path / "copy.png", "sha1": items[1]["sha1"]}])
    assert not again.added and [d.item_id for d in again.duplicates] == report.added[:2]
    assert again.duplicates[0].same_file and not again.duplicates[1].same_file
    np.testing.assert_array_equal(index.search(vectors, k=1).ids[:, 0], report.added)
    with pytest.raises(ValueError, match="L2-normalised"):
        index.add_vectors(2 * vectors[:1], ["x.png"])
    with pytest.raises(ValueError, match="2 vectors but 1 items"):
        index.add_vectors(vectors[:2], ["x.png"])


def test_copies_in_later_batches_are_duplicates_with_workers(tmp_path, folder):
    copies = tmp_path / "copies"
    copies.mkdir()
    for p in files(folder):
        shutil.copy(p, copies / p.name)
    shutil.copy(files(folder)[0], copies / "zz_copy_of_first.png")  # last batch, same content as the first
    index = Index.create(tmp_path / "idx", DIM, model_info=MODEL)
    report = index.add(copies, embed, batch=4, num_workers=1, progress=False)
    assert len(report.added) == N
    assert [(d.path, d.item_id) for d in report.duplicates] == [(str(copies / "zz_copy_of_first.png"), report.added[0])]


def test_indexed_content_is_not_decoded_again(tmp_path, folder):
    from modiste.data.datasets import ImageRecord
    from modiste.retrieval.index.reading import HashingDataset

    index, _ = build(tmp_path / "idx", folder)
    new = tmp_path / "new.png"
    Image.fromarray(np.zeros((SIZE, SIZE, 3), np.uint8)).save(new)
    dataset = HashingDataset([ImageRecord(files(folder)[0]), ImageRecord(new)], ImagePolicy(size=SIZE), index.meta.path)
    known, fresh = dataset[0], dataset[1]
    dataset.close()
    assert known.sha1 is not None and known.image is None and known.reason is None
    assert fresh.image is not None and fresh.image.shape == (3, SIZE, SIZE)


def test_ivfpq_reranks_candidates_exactly(tmp_path):
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(20, DIM)).astype(np.float32)
    x = centres[rng.integers(0, 20, 4000)] + 0.3 * rng.normal(size=(4000, DIM)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    index = Index.create(tmp_path / "idx", DIM, model_info=MODEL, config=IndexConfig(kind="ivfpq", nlist=16, pq_m=4))
    index.add_vectors(x, [f"v{i}.png" for i in range(len(x))])
    q = x[:200]
    truth = Index.create(tmp_path / "flat", DIM, model_info=MODEL, kind="flat")
    truth.add_vectors(x, [f"v{i}.png" for i in range(len(x))])
    exact = truth.search(q, k=10).ids

    def recall(ids):
        return np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, exact)])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # IVF-PQ below 10k vectors warns that it is coarse
        pq_only = recall(index.search(q, k=10, nprobe=16, refine=1).ids)
        default = recall(index.search(q, k=10, nprobe=16).ids)  # refine 4
        wide = recall(index.search(q, k=10, nprobe=16, refine=30).ids)
    assert pq_only < default < wide and wide > 0.95


def test_stored_paths_resolve_links_like_realpath(tmp_path, monkeypatch):
    """Folders are resolved once each; files that are links are still resolved themselves."""
    from modiste.retrieval.index.reading import HashingDataset, resolve

    real = tmp_path / "real"
    (real / "sub").mkdir(parents=True)
    (real / "sub" / "a.jpg").write_bytes(b"x")
    (real / "b.jpg").write_bytes(b"y")
    (tmp_path / "linked").symlink_to(real)
    (real / "sub" / "alias.jpg").symlink_to(real / "b.jpg")
    monkeypatch.chdir(real / "sub")
    ds = HashingDataset([], ImagePolicy(size=(8, 8)), None)
    for p in [real / "sub" / "a.jpg", tmp_path / "linked" / "sub" / "a.jpg", "a.jpg", "../b.jpg",
              tmp_path / "linked" / "sub" / "alias.jpg", "alias.jpg", "./missing.jpg"]:
        assert ds._resolve(p) == resolve(p), p
    assert ds._resolve("alias.jpg") == str(real / "b.jpg")
