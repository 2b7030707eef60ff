"""A trained try-on model: load round trip, any photo mode, batches from a CSV, evaluation numbers."""
import json
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from modiste.data.images import BadImageWarning
from modiste.nn import checkpoint
from modiste.nn.registry import create_model
from modiste.tryon import TryOn, as_image

SIZE = (32, 24)  # as the tiny run in conftest.py


def paths(pairs, i):
    return pairs.root / pairs.records[i]["person"], pairs.root / pairs.records[i]["article"]


def test_save_load_round_trip_gives_identical_outputs(tiny_run, tiny_pairs, tmp_path):
    path = tiny_run / "checkpoints" / "best.safetensors"
    tensors, meta = checkpoint.read(path)
    spec = meta["models"]["G"]
    G = create_model(spec["arch"], **spec["kwargs"])
    G.load_state_dict(checkpoint.strip_prefix(tensors, "G"))
    G.eval()
    model = TryOn.load(tiny_run, device="cpu")  # a run folder means its best checkpoint
    assert model.path == path and model.size == tuple(SIZE)
    g = torch.Generator().manual_seed(0)
    x, y, yj = (torch.rand(2, 3, *SIZE, generator=g) * 2 - 1 for _ in range(3))
    with torch.no_grad():
        assert torch.equal(G(x, y, yj)[0], model.G(x, y, yj)[0])
    person, article = paths(tiny_pairs, 0)
    _, target = paths(tiny_pairs, 1)
    a = model(person, article, target)
    b = TryOn.load(path)(person, article, target)
    assert torch.equal(a.result, b.result) and torch.equal(a.alpha, b.alpha)


def test_apply_on_grayscale_and_rgba_photos(tiny_run, tiny_pairs, tmp_path):
    person, article = paths(tiny_pairs, 0)
    _, target = paths(tiny_pairs, 2)
    gray = tmp_path / "gray.png"
    Image.open(person).convert("L").save(gray)
    rgba = np.array(Image.open(target).convert("RGBA"))
    rgba[..., 3] = np.where(rgba[..., :3].mean(-1) > 230, 0, 255)  # transparent background
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    model = TryOn.load(tiny_run, device="cpu")
    result = model(gray, article, tmp_path / "rgba.png")
    assert result.result.shape == (1, 3, *SIZE) and result.result.dtype == torch.uint8
    assert result.alpha.shape == (1, 1, *SIZE)
    x = result.person[0].int()
    assert torch.equal(x[0], x[1]) and torch.equal(x[1], x[2])  # grey photo, three equal channels
    t = result.target[0]
    assert int(t[:, 0, 0].min()) == 255  # transparent corners composited on white
    # the same photos as Pillow images and as tensors give the same inputs
    pil = model(Image.open(gray), Image.open(article), Image.open(tmp_path / "rgba.png"))
    assert torch.equal(pil.person, result.person) and torch.equal(pil.target, result.target)
    assert torch.equal(as_image(torch.from_numpy(rgba).permute(2, 0, 1), SIZE), result.target[0])
    out = result.save(tmp_path / "result.png")
    assert out.exists() and Image.open(tmp_path / "result_alpha.png").mode == "L"


def test_apply_a_csv_of_pairs_skips_rows_it_cannot_read(tiny_run, tiny_pairs, tmp_path):
    recs = tiny_pairs.records
    lines = ["person,article,target"]
    lines += [f"{recs[i]['person']},{recs[i]['article']},{recs[i + 1]['article']}" for i in range(3)]
    lines.append(f"{recs[4]['person']},{recs[4]['article']},article/none.png")
    csv_path = tiny_pairs.root / "apply.csv"
    csv_path.write_text("\n".join(lines) + "\n")
    model = TryOn.load(tiny_run, device="cpu")
    with pytest.warns(BadImageWarning, match=r"line 5: .*none\.png"):
        result = model.apply_csv(csv_path)
    assert len(result) == 3 and result.info["skipped_rows"] == 1
    folder = result.save(tmp_path / "out")
    names = json.loads((folder / "results.json").read_text())["names"]
    assert len(names) == 3 and all((folder / f"{n}.png").exists() and (folder / f"{n}_alpha.png").exists() for n in names)
    assert (folder / "sheet.png").exists()


def test_evaluate_reports_every_number_and_writes_a_sheet(tiny_run, tiny_pairs, tmp_path):
    model = TryOn.load(tiny_run, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the feature network on 18 photos warns about tiny batches
        report = model.evaluate(tiny_pairs.csv, out=tmp_path / "ev", progress=False)
    m = report.metrics
    for key in ("cycle_l1", "cycle_ssim", "alpha_area", "alpha_outside_clothing", "colour_error", "colour_error_before",
                "target_effect", "fd", "kid"):
        assert key in m and np.isfinite(m[key]), key
    assert 0 <= m["alpha_area"] <= 1 and 0 <= m["alpha_outside_clothing"] <= 1
    assert "fd" in report.reference and report.pairs == 6
    assert any("embedding model" in n for n in report.notes)
    saved = json.loads((tmp_path / "ev" / "eval.json").read_text())
    assert saved["metrics"] == pytest.approx(m) and (tmp_path / "ev" / "sheet.png").exists()


def test_wears_the_target_ranks_articles_with_an_embedding_model(tiny_run, tiny_pairs, tmp_path):
    from modiste.tryon.apply import TryOn

    net = create_model("embed_vgg", dim=16, width=8)
    checkpoint.save_models(tmp_path / "embed", {"model": net}, {"kind": "embedding", "image_size": 32})
    model = TryOn.load(tiny_run, device="cpu")
    report = model.evaluate(tiny_pairs.csv, embed_model=tmp_path / "embed.safetensors", fd=False,
                            out=tmp_path / "ev", progress=False)
    m = report.metrics
    assert m["articles_ranked"] == 6
    for key in ("wears_target_top1", "wears_target_top5", "own_article_top1"):
        assert 0 <= m[key] <= 1, key
    assert m["wears_target_top5"] >= m["wears_target_top1"] and "wears_target_top1" in report.reference
