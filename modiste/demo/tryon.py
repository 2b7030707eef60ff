"""The demo's virtual try-on section: synthetic person + article pairs, a briefly trained CAGAN, a try-on sheet."""
from __future__ import annotations

import json
import time
from pathlib import Path

from modiste.report import Report

# 300 pairs at 64 x 48 and a half-width CAGAN for at most 25 s (~6 epochs on 2 cores). The generator
# changes nothing until D tells a person from a person wearing another article; at the default
# settings that takes ~150 steps, so the demo takes batch 8, lr 5e-4 and no D noise (the noise helps
# long runs), which gets there in 2-3 epochs: the target's colour and region, not yet its pattern.
# The best epoch is the one whose colours come closest to the target's (cycle L1 prefers the first
# epoch that changes anything). FD/KID are left to 'modiste tryon eval' (they train a feature network).
DEMO_TRYON = dict(n=300, width=48, height=64, g_width=16, d_width=16, batch=8, lr=5e-4, d_noise=0.0, epochs=40,
                  seconds=25, best_metric="val_colour_error")


def tryon_section(report: Report, out: Path, settings: dict, progress: bool) -> dict:
    from modiste.data.synth.tryon import tryon_pairs
    from modiste.tryon.apply import TryOn
    from modiste.tryon.train import TryonConfig, train_tryon

    cfg = {**DEMO_TRYON, **settings}
    root = out / "tryon"
    root.mkdir(parents=True, exist_ok=True)
    t: dict[str, float] = {}

    t0 = time.perf_counter()
    pairs = tryon_pairs(out / "data" / "tryon", n=cfg["n"], size=(cfg["width"], cfg["height"]), progress=progress)
    pairs.plot(root / "pairs.png", n=6)
    t["drawing try-on pairs"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    run = root / "run"
    if not (run / "summary.json").exists():
        resume = (run / "checkpoints" / "latest.safetensors").exists()
        train_tryon(TryonConfig(data=str(pairs.csv), out=str(run), size=[cfg["height"], cfg["width"]],
                                g_width=cfg["g_width"], d_width=cfg["d_width"], batch=cfg["batch"], lr=cfg["lr"],
                                d_noise=cfg["d_noise"], best_metric=cfg["best_metric"], epochs=cfg["epochs"],
                                minutes=cfg["seconds"] / 60, workers=1),
                    resume=resume, progress=progress)
    t["training CAGAN"] = time.perf_counter() - t0
    summary = json.loads((run / "summary.json").read_text())
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if "val_cycle_l1" in line]

    t0 = time.perf_counter()
    ev = TryOn.load(run).evaluate(pairs.csv, fd=False, out=root / "eval", workers=1, progress=False)
    t["evaluating"] = time.perf_counter() - t0

    m = ev.metrics
    s = report.section(
        "Virtual try-on (CAGAN)",
        f"{pairs.n} synthetic pairs (<code>modiste synth tryon</code>): a model wearing a top, coat or dress, and that "
        f"garment's product photo, with its mask and a person parse. A CAGAN (Jetchev &amp; Bergmann 2017) generator "
        f"of width {cfg['g_width']} trained from scratch at {cfg['height']}&times;{cfg['width']} for "
        f"{summary['epochs']:.1f} epochs ({summary['minutes'] * 60:.0f} s, <code>modiste tryon train</code>) puts "
        "another validation pair's article on each validation person: it paints RGB and an alpha mask, and the "
        "result is alpha&middot;RGB + (1 &minus; alpha)&middot;person. The checkpoint shown is the epoch whose "
        "repainted region came closest in colour to the target article. Half a minute of CPU training gives a blurry "
        "first pull towards the target's colours over the garment region, not yet its cut or pattern; longer runs "
        "(see the README) do better.")
    report.image(s, root / "pairs.png", "training pairs: person | article | article mask | person parse", 420)
    report.image(s, root / "eval" / "sheet.png", "validation: person | article worn | target | result | alpha (white = repainted)", 420)
    report.image(s, run / "curves.png", "losses, D's view of real / generated / mismatched pairs, validation", 900)
    s.tables.append(("validation split (lower cycle L1 and colour error are better)", ["metric", "value"], [
        ("pairs", ev.pairs),
        ("epoch shown", summary["best"]["epoch"]),
        ("cycle L1, first epoch", history[0]["val_cycle_l1"] if history else None),
        ("cycle L1 (swap to the target and back)", m["cycle_l1"]),
        ("cycle SSIM", m["cycle_ssim"]),
        ("alpha area (share repainted)", m["alpha_area"]),
        ("alpha outside the clothing region", m.get("alpha_outside_clothing")),
        ("colour error to the target article", m.get("colour_error")),
        ("colour error before the try-on", m.get("colour_error_before")),
        ("target effect (change when the target changes)", m["target_effect"]),
    ]))
    s.tables.append(("time (s)", ["step", "seconds"], [(k, round(v, 1)) for k, v in t.items()]))
    return {"cycle_l1": m["cycle_l1"], "alpha_area": m["alpha_area"]}
