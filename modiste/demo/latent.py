"""The demo's latent-space section: encoder, inversion, catalog map, style boundary, edits, tags."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from modiste.report import Report

# 300 encoder steps (~1 min on 2 cores) already halve the reconstruction error of random codes; the
# whole catalog is inverted by the encoder alone, and a small showcase set is refined per image.
DEMO_LATENT = dict(encoder_steps=300, refine_steps=50, refine_n=64, map_thumb=40, tag_columns=("label", "colour",
                   "pattern", "figure", "group"))


def latent_section(report: Report, out: Path, cat, gan, settings: dict, progress: bool) -> None:
    cfg = {**DEMO_LATENT, **settings}
    root = out / "latent"
    root.mkdir(parents=True, exist_ok=True)
    t: dict[str, float] = {}  # seconds per step, shown at the end
    E, inv = _encoder_and_codes(root, cat, gan, cfg, t, progress)
    _inversion(report, root, gan, E, inv, cfg, t)
    vec = inv.vectors()
    _map(report, out, root, vec, inv, cfg, t)
    _style(report, root, gan, E, inv, vec, cfg, t)
    _directions(report, root, gan, t)
    s = _tags_and_similar(report, out, root, cat, gan, E, vec, cfg, t)
    s.tables.append(("time per step", ["step", "seconds"], [(k, round(v, 1)) for k, v in t.items()]))


def _encoder_and_codes(root: Path, cat, gan, cfg: dict, t: dict, progress: bool):
    """The encoder, then the whole catalog inverted by it."""
    from modiste.latent.api import invert_images
    from modiste.latent.encoder import EncoderConfig, load_encoder, train_encoder

    t0 = time.perf_counter()
    enc_run = root / "encoder"
    done = (enc_run / "summary.json").exists()
    if not done:
        resume = (enc_run / "checkpoints" / "latest.safetensors").exists()
        train_encoder(EncoderConfig(gan=str(gan.path), data=str(cat.csv), out=str(enc_run), steps=cfg["encoder_steps"],
                                    tick_steps=max(1, cfg["encoder_steps"] // 3), workers=0), resume=resume,
                      progress=progress)
    E, _ = load_encoder(enc_run)
    t["encoder training"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    inv = invert_images(gan, cat.csv, encoder=E, steps=0, workers=0, progress=progress)
    inv.save(root / "catalog-latents.npz")
    t["inverting the catalog (encoder)"] = time.perf_counter() - t0
    return E, inv


def _inversion(report: Report, root: Path, gan, E, inv, cfg: dict, t: dict) -> None:
    """Hybrid inversion on a showcase set: random z vs encoder vs encoder + optimisation."""
    from modiste.latent.invert import invert, random_code_baseline

    t0 = time.perf_counter()
    n = min(cfg["refine_n"], len(inv))
    x = inv.images[:n]
    rnd = random_code_baseline(gan.G, x, prior=gan.prior)
    refined = invert(gan.G, x, D=gan.D, encoder=E, prior=gan.prior, steps=cfg["refine_steps"], progress=False)
    t["refining codes"] = time.perf_counter() - t0
    s = report.section(
        "Latent space: inversion",
        "Every catalog photo compressed to a 100-d code <i>z</i> of the generator (<code>modiste latent invert</code>): "
        "an encoder trained for this generator guesses <i>z</i> (on generated pairs and on the real photos), then "
        "a short per-image optimisation refines it (pixel loss + a loss in the discriminator's features + a prior "
        "term). MSE and SSIM are on [0, 1] pixels; the generator's own blur bounds how close any code can get.")
    s.tables.append((f"reconstruction of {n} catalog photos", ["codes", "MSE", "SSIM"],
                     [("random z (floor to beat)", rnd[0], rnd[1]),
                      ("encoder only", float(inv.mse[:n].mean()), float(inv.ssim[:n].mean())),
                      (f"encoder + {cfg['refine_steps']} optimisation steps", float(refined.mse.mean()),
                       float(refined.ssim.mean())),
                      (f"whole catalog, encoder only ({len(inv)} photos)", float(inv.mse.mean()),
                       float(inv.ssim.mean()))]))
    report.image(s, refined.plot(root / "inversion.png", n=24, scale=2), "original | reconstruction (encoder + "
                 f"{cfg['refine_steps']} steps)", 840)
    report.image(s, root / "encoder" / "loss.png", "encoder training", 700)


def _map(report: Report, out: Path, root: Path, vec, inv, cfg: dict, t: dict) -> None:
    from modiste.latent import catalog_map

    t0 = time.perf_counter()
    m = catalog_map(vec, root / "map", color_by="label", thumb=cfg["map_thumb"], images=inv.images, progress=False)
    t["catalog map (t-SNE)"] = time.perf_counter() - t0
    s = report.section(
        "Latent space: map of the catalog",
        f"t-SNE of the {len(vec)} codes, each item drawn as its thumbnail (border colour = category). "
        f"<a href='{m.files['html'].relative_to(out)}'>Open the interactive map</a>: pan, zoom, hover for file "
        "name and attributes, colour or filter by any column (<code>modiste latent map</code>).")
    report.image(s, m.files["png"], "every catalog item at its t-SNE position", 1000)


def _style(report: Report, root: Path, gan, E, inv, vec, cfg: dict, t: dict) -> None:
    """The style boundary, edits along it, and in-between designs."""
    from modiste.latent import between, boundary_from_column, edit, hyperplane_designs
    from modiste.results import make_grid, save_png

    t0 = time.perf_counter()
    style = boundary_from_column(vec, "group", "collection", "everyday")
    style.save(root / "style-boundary.json")
    figure = boundary_from_column(vec, "figure", "model", "none")
    kept = style.condition(figure)
    kept.save(root / "style-boundary-keep-figure.json")
    everyday = [i for i, g in enumerate(vec.column("group")) if g == "everyday"][:6]
    collection = [i for i, g in enumerate(vec.column("group")) if g == "collection"][:3]
    z_every = refine_codes(gan, E, inv.images[everyday], cfg["refine_steps"])
    amounts = np.linspace(-6, 6, 7).tolist()  # the groups sit ~0.1 either side; a short generator moves slowly
    strip = edit(gan, z_every, style, amounts=amounts)
    strip_kept = edit(gan, z_every, kept, amounts=amounts)
    on_plane = hyperplane_designs(gan, z_every, style)
    z_coll = refine_codes(gan, E, inv.images[collection], cfg["refine_steps"])
    mids = torch.cat([between(gan, z_every[i], z_coll[i], steps=7).images for i in range(len(collection))])
    t["boundary and edits"] = time.perf_counter() - t0
    d_style = style.distance(vec.vectors)
    groups = np.array(vec.column("group"))
    s = report.section(
        "Latent space: everyday vs collection",
        "A linear SVM between the codes of everyday and collection items (<code>modiste latent boundary</code>): "
        "the hyperplane's unit normal is the direction from one style group to the other. Each row below is an "
        "everyday item moved along it (<code>modiste latent edit --range -6 6 --steps 7</code>; the middle "
        "column is the item's own reconstruction). The conditional boundary is made orthogonal to the 'worn by a model' "
        "boundary, so the edit changes the style while keeping the figure.")
    s.tables.append(("boundaries (5-fold cross-validated balanced accuracy; chance is 0.5)",
                     ["boundary", "accuracy", "items", "median signed distance (pos / neg)"],
                     [(style.name, style.accuracy, style.n_pos + style.n_neg,
                       f"{np.median(d_style[groups == 'collection']):+.2f} / {np.median(d_style[groups == 'everyday']):+.2f}"),
                      (figure.name, figure.accuracy, figure.n_pos + figure.n_neg, ""),
                      (f"{style.name}, orthogonal to {figure.name}", "", "",
                       f"cos to unconditioned: {kept.extra.get('cosine_to_unconditioned', float('nan')):.3f}")]))
    real_row = make_grid(inv.images[everyday], nrow=1)
    save_png(real_row, root / "edit-sources.png", scale=2)
    report.image(s, root / "edit-sources.png", "the items", 70)
    report.image(s, strip.plot(root / "edit-style.png", scale=2), "everyday → collection (−6 … +6)", 500)
    report.image(s, strip_kept.plot(root / "edit-style-keep-figure.png", scale=2), "same, figure kept", 500)
    report.image(s, on_plane.plot(root / "edit-hyperplane.png", scale=2),
                 "item | the same item moved onto the hyperplane (--to-hyperplane)", 150)
    report.image(s, save_png(make_grid(mids, nrow=7), root / "between.png", scale=2),
                 "from an everyday item to a collection item; the middle is their midpoint (modiste latent between)", 500)


def _directions(report: Report, root: Path, gan, t: dict) -> None:
    """Directions without labels (GANSpace)."""
    from modiste.latent import ganspace
    from modiste.latent.edit import direction_sheet

    t0 = time.perf_counter()
    dirs = ganspace(gan.G, latent_dim=gan.latent_dim, prior=gan.prior, n=1000, k=6)
    dirs.save(root / "directions.json")
    sheet = direction_sheet(gan, dirs, gan.latents(1, 3)[0], sigmas=3, steps=7)
    t["GANSpace directions"] = time.perf_counter() - t0
    s = report.section("Latent space: directions without labels",
                       "GANSpace: principal components of the generator's first layer, carried back to <i>z</i> "
                       "(<code>modiste latent directions</code>). One row per component, −3σ … +3σ.")
    report.image(s, sheet.plot(root / "directions.png", scale=2), "first 6 components, one design", 500)


def _tags_and_similar(report: Report, out: Path, root: Path, cat, gan, E, vec, cfg: dict, t: dict):
    """Tag probes on the codes, and the catalog items nearest to new photos."""
    from modiste.data.synth import catalog
    from modiste.latent import fit_tags, similar
    from modiste.latent.api import invert_images

    t0 = time.perf_counter()
    probes = fit_tags(vec, list(cfg["tag_columns"]))
    probes.save(root / "tags.json")
    queries = catalog(out / "data" / "latent-queries", n=4, size=cat.size, seed=10_000 + cat.seed, workers=1,
                      progress=False)
    q = invert_images(gan, queries.csv, encoder=E, steps=cfg["refine_steps"], workers=0, progress=False)
    matches = similar(q.z, vec, k=8, query_paths=q.paths, query_images=q.images)
    matches.save(root / "similar")
    predicted = probes.predict_columns(q.z.numpy())
    t["tag probes and search"] = time.perf_counter() - t0
    s = report.section(
        "Latent space: tags and similar items",
        "One logistic-regression probe per attribute on the codes (<code>modiste latent tag fit</code>), "
        "accuracy from 5-fold cross-validation against always guessing the most common value; and the nearest "
        "catalog items to new photos by cosine distance of their codes (<code>modiste latent similar</code>), a "
        "baseline for the learned search.")
    s.tables.append(("tag probes on latent codes", ["attribute", "classes", "accuracy", "majority baseline"],
                     [(r["probe"], len(r["classes"]),
                       f"{r['accuracy']:.3f} ± {r['accuracy_std']:.3f}", r["baseline"]) for r in probes.report]))
    cols = list(cfg["tag_columns"])
    truth = [[queries.records[i][c] for c in cols] for i in range(len(queries.records))]
    s.tables.append(("new photos: predicted (true) attributes", ["query", *cols],
                     [(Path(p).name, *(f"{pr.get(c, '')} ({tr[j]})" for j, c in enumerate(cols)))
                      for p, pr, tr in zip(q.paths, predicted, truth)]))
    report.image(s, root / "similar" / "matches.png", "query (left), then its 8 nearest catalog items", 640)
    return s


def refine_codes(gan, E, images: torch.Tensor, steps: int) -> torch.Tensor:
    from modiste.latent.invert import invert

    return invert(gan.G, images, D=gan.D, encoder=E, prior=gan.prior, steps=steps, progress=False).z
