"""``modiste demo``: every capability on built-in synthetic data, ending in one HTML page.

Each capability adds one section to ``OUT/index.html``; the page is rewritten after every step,
so a long demo can be watched as it goes and an interrupted one still shows what it finished.
"""
from __future__ import annotations

import io
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from modiste.demo.detect import detect_section
from modiste.demo.latent import latent_section
from modiste.demo.search import search_section
from modiste.demo.shots import shots_section
from modiste.demo.tryon import tryon_section
from modiste.report import Report

# The demo trains at 64 px with half-width networks (~4x cheaper than the paper's widths), batch 32
# (more updates per image: at this budget FD 170 vs 265 for batch 64, same 40k images) and bf16
# autocast (~1.4x faster here, no worse FD on the same check), so ~3 minutes on 2 CPU cores give
# recognisable garments on the synthetic catalog.
DEMO_GAN = dict(size=64, g_width=32, d_width=32, batch=32, kimg=60, tick_kimg=6, snapshot_ticks=0, amp=True)


def run_demo(out: str | Path = "runs/demo", *, gan_minutes: float = 3.5, seed: int = 0, n_catalog: int = 2000,
             gan_settings: dict | None = None, latent_settings: dict | None = None, search_settings: dict | None = None,
             detect_settings: dict | None = None, shots_settings: dict | None = None,
             tryon_settings: dict | None = None, progress: bool = True) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = Report(out / "index.html", "modiste demo",
                    "Everything below was made by <code>modiste demo</code> from built-in synthetic data, on this machine.")
    timings = report.section("Timings")
    steps: list[tuple[str, float]] = []

    def timed(name, fn, *args, **kwargs):
        t0 = time.perf_counter()
        result = fn(*args, **kwargs)
        steps.append((name, time.perf_counter() - t0))
        timings.tables = [("", ["step", "seconds"], [(n, round(s, 1)) for n, s in steps])]
        report.write()
        return result

    cat = timed("synthetic catalog", _catalog_section, report, out, n_catalog, seed, progress)
    timed("safe image loading", _loading_section, report, out, cat)
    settings = {**DEMO_GAN, **(gan_settings or {}), "minutes": gan_minutes, "seed": seed}
    gan = timed("design generation (GAN)", _gan_section, report, out, cat, settings, progress)
    timed("latent space", latent_section, report, out, cat, gan, latent_settings or {}, progress)
    timed("similar items (street to shop)", search_section, report, out, cat, search_settings or {}, progress)
    timed("detection and shop the look", detect_section, report, out, detect_settings or {}, progress)
    timed("gallery ordering", shots_section, report, out, shots_settings or {}, progress)
    timed("virtual try-on", tryon_section, report, out, tryon_settings or {}, progress)
    return report.write()


def _catalog_section(report: Report, out: Path, n: int, seed: int, progress: bool):
    from modiste.data.synth import catalog

    cat = catalog(out / "data" / "catalog", n=n, size=64, seed=seed, progress=progress)
    s = report.section("Synthetic catalog",
                       f"{len(cat)} procedurally drawn product images with known attributes "
                       f"(<code>modiste synth catalog</code>), written to <code>{cat.csv}</code>.")
    report.image(s, cat.plot(out / "catalog.png", n=64), "the first 64 items", 520)
    counts: dict[str, dict[str, int]] = {}
    for r in cat.records:
        for col in ("label", "colour", "pattern", "figure", "group"):
            counts.setdefault(col, {}).setdefault(r[col], 0)
            counts[col][r[col]] += 1
    s.tables.append(("attributes", ["column", "values (count)"],
                     [(c, ", ".join(f"{k} ({v})" for k, v in sorted(d.items()))) for c, d in counts.items()]))
    return cat


def _odd_files(folder: Path, source: Path) -> None:
    """Photos the way users' folders hold them: odd modes, rotations, and a few broken files."""
    folder.mkdir(parents=True, exist_ok=True)
    base = Image.open(source).convert("RGB").resize((96, 96))
    portrait = Image.new("RGB", (96, 160), (235, 235, 240))
    portrait.paste(base, (0, 32))
    portrait.save(folder / "portrait.jpg")
    rgba = base.convert("RGBA")
    alpha = np.array(rgba)
    alpha[..., 3] = np.where(np.array(base).mean(-1) > 240, 0, 255)
    Image.fromarray(alpha).save(folder / "transparent.png")
    base.convert("CMYK").save(folder / "cmyk.jpg")
    Image.fromarray((np.array(base.convert("L")).astype(np.uint16) * 257)).save(folder / "gray16.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways; viewers rotate it upright
    base.rotate(90, expand=True).save(folder / "rotated_exif.jpg", exif=exif)
    (folder / "empty.jpg").write_bytes(b"")
    buf = io.BytesIO()
    portrait.save(buf, format="JPEG")
    (folder / "truncated.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 3])
    (folder / "notes.jpg").write_text("this is not an image")
    Image.new("RGB", (1, 1)).save(folder / "pixel.png")


def _loading_section(report: Report, out: Path, cat) -> None:
    from modiste.data import ImagePolicy, open_dataset, scan
    from modiste.results import make_grid, save_png

    folder = out / "data" / "odd-files"
    _odd_files(folder, cat.root / cat.records[0]["path"])
    s = report.section("Safe image loading",
                       "A folder with odd modes (RGBA, CMYK, 16-bit grey), an EXIF-rotated photo, a portrait photo, "
                       "and four broken files. Good files are letterboxed on white; each bad file is skipped with one "
                       "warning naming it and the reason, and counted.")
    for resize in ("letterbox", "center-crop"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            images, _, skips = scan(open_dataset(folder, ImagePolicy(size=(64, 64), resize=resize)), progress=False, num_workers=0)
        report.image(s, save_png(make_grid(images, nrow=len(images)), out / f"loading-{resize}.png", scale=2),
                     f"{resize}: {len(images)} usable images")
    s.tables.append(("skipped files", ["file", "reason"], [(Path(p).name, r) for p, r in skips.items.items()]))


def _gan_section(report: Report, out: Path, cat, settings: dict, progress: bool) -> None:
    from modiste.data import ImagePolicy, open_dataset, scan
    from modiste.gan import GAN
    from modiste.results import make_grid, save_png

    run = out / "gan"
    resume = (run / "checkpoints" / "latest.safetensors").exists()
    gan = GAN.train(cat.csv, out=run, resume=resume, progress=progress, **({} if resume else settings))
    s = report.section("Design generation (GAN)",
                       f"A DCGAN ({settings['size']} px, generator width {settings['g_width']}, bf16 autocast) trained "
                       f"from scratch on the catalog with DiffAugment and an EMA generator: "
                       f"{gan.meta['images_seen'] / 1000:.0f}k images shown. Left: real catalog items; right: designs "
                       "that do not exist.")
    real, _, _ = scan(open_dataset(cat.csv, ImagePolicy(size=(gan.size, gan.size))), progress=False, num_workers=0)
    g = torch.Generator().manual_seed(1)
    report.image(s, save_png(make_grid(real[torch.randperm(len(real), generator=g)[:64]], 8), out / "gan-real.png", 2),
                 "real (random 64)", 420)
    report.image(s, gan.sample(64, seed=0).plot(out / "gan-samples.png", scale=2), "generated (seed 0)", 420)
    strips = [gan.interpolate(a, b, steps=10).images for a, b in ((1, 2), (3, 4), (5, 6))]
    report.image(s, save_png(make_grid(torch.cat(strips), nrow=10), out / "gan-interpolation.png", 2),
                 "interpolation between seeds (slerp), one row per pair", 840)
    report.image(s, run / "loss.png", "losses and D outputs during training", 840)
    # the space of a small network trained on the catalog: ImageNet features at 224 px cost a minute here
    quality = gan.evaluate(cat.csv, n=1000, features="data", progress=progress)
    quality.save(out / "gan-quality.json")
    ref = quality.reference
    s.tables.append(("quality in EfficientNet-Lite0's ImageNet feature space at 224 px (comparable across "
                     "datasets and runs, not with Inception FID)" if quality.feature_task == "imagenet" else
                     "quality in the space of a classifier trained on the catalog's categories "
                     "(not comparable to Inception FID)",
                     ["metric", "generated vs real", "real vs real (two halves)"],
                     [("FD", quality.fd, ref["fd"]), ("KID", quality.kid, ref["kid"]),
                      ("precision", quality.precision, ref["precision"]), ("recall", quality.recall, ref["recall"])]))
    return gan
