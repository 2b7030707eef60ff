"""How good a try-on generator is on a split of pairs: cycle L1/SSIM, alpha, colour, "wears the target", FD/KID.

Each person x_i gets the article y_j of another row of the split (a fixed random cycle, so every
number is reproducible), then is swapped back to y_i:

* ``cycle_l1`` / ``cycle_ssim``: G(G(x_i, y_i, y_j), y_j, y_i) against x_i. Lower L1 is better,
  but a generator that ignores the target scores a perfect 0, so read it beside ``target_effect``.
* ``alpha_area``: mean alpha, the share of the photo repainted.
* ``alpha_outside_clothing`` (pairs with ``person_parse``): the share of alpha's mass outside the
  clothing labels (the worn article and other clothing). A longer target article legitimately
  covers some skin, so this is not zero for a perfect model.
* ``colour_error`` (pairs with ``article_mask``): L1 between the alpha-weighted mean colour of the
  result and the mask-weighted mean colour of the target article, beside ``colour_error_before``,
  the same for the unchanged photo: a cheap check that the repainted region took the target's colour.
* ``wears_target_top1/top5`` (with an embedding model): the repainted region (bounding box of
  alpha > 0.5) is embedded and the split's articles ranked by cosine similarity; the target must
  come first. Beside it the same crop of the photo before the try-on (chance and leakage level)
  and, with ``person_parse``, the real worn region against its own article (what the embedding
  can do at best).
* ``target_effect``: how much the results change when every person gets another row's target
  instead (on the [-1, 1] scale): near 0 means the generator ignores the target article.
* ``fd`` / ``kid``: results against real person photos of the other rows, in the space of a
  feature network trained on those photos, beside the split's real photos against the same set.
"""
from __future__ import annotations

import hashlib
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from modiste.data.images import fit_image, load_image
from modiste.io import atomic_write_json
from modiste.metrics.ssim import ssim
from modiste.tryon.data import CLOTHING, PairsData, TryonDataset, fixed_targets
from modiste.tryon.results import alpha_to_uint8, sheet_scale, tryon_sheet
from modiste.results import save_png, to_uint8

WORN = CLOTHING[0]  # person_parse label of the worn article
MIN_REGION = 0.01   # a repainted region smaller than this share of the photo: embed the whole photo
MIN_FEATURE_SIDE = 32  # the FD/KID feature network needs at least this many pixels a side


@dataclass
class SplitOutputs:
    """Per-row numbers and uint8 images of one pass over a split."""

    rows: torch.Tensor                 # long (N,): row of each pair in PairsData
    target_rows: torch.Tensor          # long (N,)
    cycle_l1: torch.Tensor             # (N,)
    cycle_ssim: torch.Tensor           # (N,)
    alpha_area: torch.Tensor           # (N,)
    alpha_outside: torch.Tensor | None
    colour_error: torch.Tensor | None
    colour_error_before: torch.Tensor | None
    person: torch.Tensor               # uint8 (N, 3, H, W)
    article: torch.Tensor
    target: torch.Tensor
    result: torch.Tensor
    alpha: torch.Tensor                # uint8 (N, 1, H, W)

    def means(self, prefix: str = "") -> dict[str, float]:
        out = {"cycle_l1": self.cycle_l1, "cycle_ssim": self.cycle_ssim, "alpha_area": self.alpha_area,
               "alpha_outside_clothing": self.alpha_outside, "colour_error": self.colour_error,
               "colour_error_before": self.colour_error_before}
        return {prefix + k: float(v.mean()) for k, v in out.items() if v is not None}


def _mean_colour(image: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return (image * weight).sum((2, 3)) / weight.sum((2, 3)).clamp_min(1e-6)


@torch.no_grad()
def run_split(G: torch.nn.Module, dataset: TryonDataset, *, batch: int = 32, device: torch.device | str = "cpu",
              amp: bool = False, keep: int | None = None) -> SplitOutputs:
    """G over every pair of ``dataset`` (one pass to the target and one back); ``keep`` limits the images kept."""
    was = G.training
    G.eval()
    device = torch.device(device)
    parts: dict[str, list[torch.Tensor]] = {}
    kept = 0
    for b in DataLoader(dataset, batch_size=batch, shuffle=False):
        x, y, yj = (b[k].to(device) for k in ("person", "article", "target"))
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            fake, alpha, _ = G(x, y, yj)
            back, _, _ = G(fake, yj, y)
        fake, alpha, back = fake.float().clamp(-1, 1), alpha.float(), back.float().clamp(-1, 1)
        row = {"rows": b["row"], "target_rows": b["target_row"],
               "cycle_l1": (back - x).abs().mean((1, 2, 3)).cpu(),
               "cycle_ssim": ssim((back + 1) / 2, (x + 1) / 2).cpu(),
               "alpha_area": alpha.mean((1, 2, 3)).cpu()}
        if "person_parse" in b:
            outside = ~torch.isin(b["person_parse"].to(device), torch.tensor(CLOTHING, device=device))
            row["alpha_outside"] = ((alpha * outside).sum((1, 2, 3)) / alpha.sum((1, 2, 3)).clamp_min(1e-6)).cpu()
        if "target_mask" in b:
            want = _mean_colour(yj, b["target_mask"].to(device))
            row["colour_error"] = (_mean_colour(fake, alpha) - want).abs().mean(1).cpu()
            row["colour_error_before"] = (_mean_colour(x, alpha) - want).abs().mean(1).cpu()
        n = len(x) if keep is None else max(0, min(len(x), keep - kept))
        kept += n
        row.update(person=to_uint8(x[:n]), article=to_uint8(y[:n]), target=to_uint8(yj[:n]),
                   result=to_uint8(fake[:n]), alpha=alpha_to_uint8(alpha[:n]))
        for k, v in row.items():
            parts.setdefault(k, []).append(v)
    G.train(was)
    cat = {k: torch.cat(v) for k, v in parts.items()}
    return SplitOutputs(alpha_outside=cat.pop("alpha_outside", None), colour_error=cat.pop("colour_error", None),
                        colour_error_before=cat.pop("colour_error_before", None), **cat)


def target_effect(G: torch.nn.Module, data: PairsData, index: torch.Tensor, targets: torch.Tensor, out: SplitOutputs, *,
                  seed: int, batch: int = 32, device: torch.device | str = "cpu", amp: bool = False) -> float:
    """Mean absolute change of the results (on the [-1, 1] scale) when each person gets another row's
    target instead: near 0 means the generator ignores the article it is asked to put on."""
    others = TryonDataset(data, index, seed=seed, flip=False, targets=targets.roll(1))
    other = run_split(G, others, batch=batch, device=device, amp=amp)
    return float(((out.result.float() - other.result.float()).abs() / 127.5).mean())


def validate(G: torch.nn.Module, data: PairsData, index: torch.Tensor, *, seed: int, batch: int = 32,
             device: torch.device | str = "cpu", amp: bool = False, keep: int = 8) -> tuple[dict[str, float], torch.Tensor]:
    """The validation numbers logged each epoch (``val_`` + the means of ``run_split`` and the target
    effect) and a sheet of ``keep`` pairs."""
    targets = fixed_targets(len(index), seed)
    out = run_split(G, TryonDataset(data, index, seed=seed, flip=False, targets=targets), batch=batch, device=device,
                    amp=amp)
    metrics = out.means("val_")
    metrics["val_target_effect"] = target_effect(G, data, index, targets, out, seed=seed, batch=batch, device=device,
                                                 amp=amp)
    k = min(keep, len(out.result))
    sheet = tryon_sheet(out.person[:k], out.article[:k], out.target[:k], out.result[:k], out.alpha[:k])
    return metrics, sheet


# ---- the full evaluation --------------------------------------------------------------------------------------


@dataclass
class TryonEval:
    split: str
    pairs: int
    metrics: dict[str, float]
    reference: dict[str, float] = field(default_factory=dict)  # the same numbers for real photos, for scale
    notes: list[str] = field(default_factory=list)
    checkpoint: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: str | os.PathLike) -> Path:
        return atomic_write_json(path, self.to_json())

    def __str__(self) -> str:
        lines = [f"{self.pairs} pairs of split {self.split!r}"]
        lines += [f"  {k:<26} {v:.4g}" + (f"   (before / real: {self.reference[k]:.4g})" if k in self.reference else "")
                  for k, v in self.metrics.items()]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def region_box(mask: torch.Tensor) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) of a bool (H, W) mask, or None when it covers under MIN_REGION of the image."""
    if mask.float().mean() < MIN_REGION:
        return None
    ys, xs = torch.nonzero(mask, as_tuple=True)
    return int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1


def crop(image: torch.Tensor, box: tuple[int, int, int, int] | None) -> torch.Tensor:
    return image if box is None else image[:, box[0]:box[1], box[2]:box[3]]


def _rank_of_target(queries: torch.Tensor, gallery: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """0-based rank of gallery[truth[i]] among all gallery rows for each query (ties count against it)."""
    sim = queries @ gallery.T
    return (sim >= sim.gather(1, truth[:, None])).sum(1) - 1


def wears_target(embed_model, data: PairsData, out: SplitOutputs) -> tuple[dict[str, float], dict[str, float]]:
    """Top-1/top-5 of the target article for the repainted region of each result (see the module doc)."""
    policy = embed_model.policy
    paths = [str(data.records[int(r)].article) for r in out.rows]
    gallery_paths = sorted(set(paths))
    position = {p: i for i, p in enumerate(gallery_paths)}
    gallery = embed_model(torch.stack([load_image(p, policy) for p in gallery_paths]))
    target = torch.tensor([position[str(data.records[int(r)].article)] for r in out.target_rows])
    own = torch.tensor([position[p] for p in paths])
    boxes = [region_box(a[0] > 127) for a in out.alpha]
    after = embed_model(torch.stack([fit_image(crop(im, b), policy) for im, b in zip(out.result, boxes)]))
    before = embed_model(torch.stack([fit_image(crop(im, b), policy) for im, b in zip(out.person, boxes)]))
    rank_after, rank_before = _rank_of_target(after, gallery, target), _rank_of_target(before, gallery, target)
    metrics = {"wears_target_top1": float((rank_after < 1).float().mean()),
               "wears_target_top5": float((rank_after < 5).float().mean())}
    reference = {"wears_target_top1": float((rank_before < 1).float().mean()),
                 "wears_target_top5": float((rank_before < 5).float().mean())}
    if data.parses is not None:
        worn = [region_box(data.parses[int(r), 0] == WORN) for r in out.rows]
        real = embed_model(torch.stack([fit_image(crop(im, b), policy) for im, b in zip(out.person, worn)]))
        rank_own = _rank_of_target(real, gallery, own)
        metrics["own_article_top1"] = float((rank_own < 1).float().mean())
        metrics["own_article_top5"] = float((rank_own < 5).float().mean())
    metrics["articles_ranked"] = float(len(gallery_paths))
    return metrics, reference


def realism(data: PairsData, out: SplitOutputs, *, features: str | os.PathLike | None, cache: Path, seed: int = 0,
            device: torch.device | str = "cpu", progress: bool = True) -> tuple[dict[str, float], dict[str, float], str]:
    """FD and KID of the results, and of the split's real photos, against the other rows' real photos."""
    from modiste.metrics import frechet_distance, kernel_distance
    from modiste.metrics.feature_space import extract_features, load_feature_net, save_feature_net, train_feature_net

    others = torch.ones(len(data), dtype=torch.bool)
    others[out.rows] = False
    reference = data.persons[others] if int(others.sum()) >= 2 else data.persons[out.rows[len(out.rows) // 2:]]
    zoom = math.ceil(MIN_FEATURE_SIDE / min(data.size))
    if zoom > 1:  # the feature network halves five times; tiny images are enlarged (nearest) to pass through
        reference, fakes, reals = (t.repeat_interleave(zoom, -1).repeat_interleave(zoom, -2)
                                   for t in (reference, out.result, out.person))
    else:
        fakes, reals = out.result, out.person
    if features is None:
        key = hashlib.sha1(f"{Path(data.source).resolve()}|{tuple(data.size)}".encode()).hexdigest()[:10]
        features = cache / f"features-{key}.safetensors"
        if not features.exists():
            net = train_feature_net(reference, None, batch=max(8, min(64, len(reference) // 4)), seed=seed, device=device,
                                    progress=progress)
            save_feature_net(net, features)
    net = load_feature_net(features, device=device)
    f_ref = extract_features(net, reference, device=device)
    f_fake = extract_features(net, fakes, device=device)
    f_real = extract_features(net, reals, device=device)

    def scores(f: torch.Tensor) -> dict[str, float]:
        size = max(2, min(len(f), len(f_ref)) // 2)  # subsets of half the smaller set, so their spread means something
        kid, kid_std = kernel_distance(f, f_ref, subsets=50, subset_size=size, seed=seed)
        return {"fd": frechet_distance(f, f_ref), "kid": kid, "kid_std": kid_std}

    return scores(f_fake), scores(f_real), str(features)


def evaluate_tryon(G: torch.nn.Module, data: PairsData, *, split: str = "val", seed: int = 0, embed_model=None,
                   fd: bool = True, features: str | os.PathLike | None = None, out: str | os.PathLike | None = None,
                   batch: int = 32, device: torch.device | str = "cpu", amp: bool = False,
                   progress: bool = True) -> TryonEval:
    """Every number of the module doc on ``split`` of ``data`` (FD/KID only with ``fd``, as they train a
    feature network); with ``out``, writes eval.json and sheet.png there."""
    index = data.indices(split)
    if len(index) < 2:
        known = sorted(set(data.splits))
        raise ValueError(f"{data.source}: split {split!r} has {len(index)} pairs (splits: {known}); need two or more")
    targets = fixed_targets(len(index), seed)
    res = run_split(G, TryonDataset(data, index, seed=seed, flip=False, targets=targets), batch=batch, device=device,
                    amp=amp)
    metrics = res.means()
    metrics["target_effect"] = target_effect(G, data, index, targets, res, seed=seed, batch=batch, device=device, amp=amp)
    reference: dict[str, float] = {}
    notes = []
    if "alpha_outside_clothing" not in metrics:
        notes.append("no person_parse column: alpha outside the clothing region not measured")
    if "colour_error" not in metrics:
        notes.append("no article_mask column: colour error not measured")
    if embed_model is not None:
        m, r = wears_target(embed_model, data, res)
        metrics.update(m)
        reference.update(r)
        notes.append("reference wears_target_*: the same crop of the photo before the try-on")
    else:
        notes.append("no embedding model: 'wears the target' not measured; make one with "
                     "'modiste tryon embed-pairs PAIRS data/wear' then 'modiste embed train data/wear/pairs.csv "
                     "--out runs/embed/wear', and pass --embed-model runs/embed/wear")
    if fd:
        cache = Path(out) if out is not None else Path(".")
        fake, real, features_path = realism(data, res, features=features, cache=cache, seed=seed, device=device,
                                            progress=progress)
        metrics.update(fake)
        reference.update({k: v for k, v in real.items() if k != "kid_std"})
        notes.append(f"fd/kid: against the real photos of the other rows in the space of {features_path} (a network "
                     "trained on those photos; not comparable to Inception FID); reference: the split's real photos "
                     "against the same set")
    report = TryonEval(split=split, pairs=len(index), metrics=metrics, reference=reference, notes=notes)
    if out is not None:
        out = Path(out)
        k = min(16, len(res.result))
        save_png(tryon_sheet(res.person[:k], res.article[:k], res.target[:k], res.result[:k], res.alpha[:k]),
                 out / "sheet.png", scale=sheet_scale(res.result.shape[-2]))
        report.save(out / "eval.json")
    return report
