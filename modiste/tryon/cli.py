"""``modiste tryon ...``: virtual try-on with CAGAN: train, apply, eval."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from modiste.console import given, writable_folder

tryon_app = typer.Typer(no_args_is_help=True, help="Virtual try-on (CAGAN): train on person + article pairs, apply, evaluate.")


def _size(text: Optional[str]) -> Optional[list[int]]:
    """'128x96' (height x width) -> [128, 96]."""
    if text is None:
        return None
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise typer.BadParameter(f"size is HEIGHTxWIDTH, e.g. 128x96; got {text!r}") from None
    return [h, w]


@tryon_app.command("train")
def tryon_train(
    pairs: Optional[Path] = typer.Argument(None, help="Pairs CSV (person, article [, article_mask, person_parse, split]), "
                                                      "a pairs .txt, or a folder with image/ and cloth/."),
    out: Path = typer.Option(..., help="Run folder (config, metrics, curves, sample sheets, checkpoints).", callback=writable_folder),
    size: Optional[str] = typer.Option(None, help="HEIGHTxWIDTH in px [128x96]."),
    g_width: Optional[int] = typer.Option(None, help="Generator base width [32]."),
    d_width: Optional[int] = typer.Option(None, help="Discriminator base width [32]."),
    epochs: Optional[int] = typer.Option(None, help="Passes over the training pairs [100]."),
    batch: Optional[int] = typer.Option(None, help="Batch size [16]."),
    lr: Optional[float] = typer.Option(None, help="Adam learning rate, betas 0.5/0.999 [2e-4]."),
    adv_weight: Optional[float] = typer.Option(None, help="Weight of the adversarial loss [1]."),
    cycle_weight: Optional[float] = typer.Option(None, help="Weight of the cycle L1 loss [1]."),
    id_weight: Optional[float] = typer.Option(None, help="Weight of the alpha L1 (id) loss [0.1]."),
    d_noise: Optional[float] = typer.Option(None, help="Std of the noise on D's inputs and layers [0.1]."),
    d_noise_epochs: Optional[float] = typer.Option(None, help="Decay that noise to 0 over this many epochs [never]."),
    flip: Optional[bool] = typer.Option(None, "--flip/--no-flip", help="Mirror person and article together [on]."),
    best_metric: Optional[str] = typer.Option(None, help="Validation number that picks the best checkpoint, lower is better: "
                                                         "val_cycle_l1, val_colour_error (needs article_mask), ... [val_cycle_l1]."),
    patience: Optional[int] = typer.Option(None, help="Stop after this many epochs without a better best metric [20]."),
    min_target_effect: Optional[float] = typer.Option(None, help="An epoch whose results change less than this when the "
                                                                 "target changes has collapsed and is never best [0.03]."),
    amp: Optional[bool] = typer.Option(None, "--amp/--no-amp", help="bf16 autocast; ~2x on CPUs with AVX-512 bf16 [on for CUDA]."),
    minutes: Optional[float] = typer.Option(None, help="Wall-clock cap; a checkpoint is written when reached."),
    seed: Optional[int] = typer.Option(None, help="Seed [0]."),
    workers: Optional[int] = typer.Option(None, help="Decoding threads [2]."),
    device: Optional[str] = typer.Option(None, help="cpu or cuda."),
    resume: bool = typer.Option(False, help="Continue the run in --out from its last checkpoint."),
):
    """Train CAGAN: adversarial + cycle + id losses; per-epoch validation, sheet and best checkpoint.

    Example: modiste tryon train data/tryon/pairs.csv --out runs/tryon/a --epochs 100
    Resume:  modiste tryon train --out runs/tryon/a --resume
    """
    from modiste.tryon.train import TryonConfig, train_tryon

    if pairs is None and not resume:
        raise typer.BadParameter("give PAIRS (or --resume an existing run)")
    settings = given(data=str(pairs) if pairs else None, out=str(out), size=_size(size), g_width=g_width,
                     d_width=d_width, epochs=epochs, batch=batch, lr=lr, adv_weight=adv_weight,
                     cycle_weight=cycle_weight, id_weight=id_weight, d_noise=d_noise,
                     d_noise_epochs=d_noise_epochs, flip=flip, best_metric=best_metric, patience=patience,
                     min_target_effect=min_target_effect, amp=amp, minutes=minutes, seed=seed, workers=workers,
                     device=device)
    cfg = TryonConfig(**settings)
    best = train_tryon(cfg, resume=resume, given=settings)
    summary = json.loads((out / "summary.json").read_text())
    b = summary["best"]
    if b["epoch"] is None:
        typer.echo(f"no epoch qualified as best (no validation pairs, or every epoch ignored the target); {best} is the last epoch")
    else:
        typer.echo(f"best checkpoint {best} (epoch {b['epoch']}): validation cycle L1 {b['val_cycle_l1']:.4f}, "
                   f"alpha area {b['val_alpha_area']:.3f}, target effect {b['val_target_effect']:.3f}")
    typer.echo(f"sheets: {out / 'samples'}\ncurves: {out / 'curves.png'}")
    if summary["stop_reason"] not in ("budget", "patience"):
        typer.echo(f"stopped early ({summary['stop_reason']}); continue with: modiste tryon train --out {out} --resume")
    elif summary["stop_reason"] == "patience":
        used = json.loads((out / "config.json").read_text())  # a resumed run keeps its own settings
        typer.echo(f"stopped: no better {used['best_metric']} for {used['patience']} epochs")


@tryon_app.command("apply")
def tryon_apply(
    ckpt: Path = typer.Argument(..., help="Try-on run folder or checkpoint."),
    person: Optional[Path] = typer.Option(None, help="Photo of the person."),
    article: Optional[Path] = typer.Option(None, help="Product photo of the article the person wears now."),
    target: Optional[Path] = typer.Option(None, help="Product photo of the article to put on."),
    pairs: Optional[Path] = typer.Option(None, help="Instead: a CSV with person, article and target columns."),
    out: Path = typer.Option(Path("tryon.png"), help="Result PNG (its alpha beside it as NAME_alpha.png); a folder with --pairs."),
    device: Optional[str] = typer.Option(None, help="cpu or cuda."),
):
    """Show the person wearing the target article; writes the result and the alpha mask of what changed.

    CAGAN needs the product photo of what the person wears (--article) to know what to replace.

    Example: modiste tryon apply runs/tryon/a --person p.jpg --article worn.jpg --target new.jpg --out result.png
    Batch:   modiste tryon apply runs/tryon/a --pairs tryons.csv --out results/
    """
    from modiste.tryon.apply import TryOn

    model = TryOn.load(ckpt, device=device)
    if pairs is not None:
        if person or article or target:
            raise typer.BadParameter("give either --pairs or --person/--article/--target")
        result = model.apply_csv(pairs)
        folder = result.save(out)
        skipped = result.info['skipped_rows']
        typer.echo(f"{len(result)} try-on{'' if len(result) == 1 else 's'} ({skipped} row{'' if skipped == 1 else 's'} "
                   f"skipped); wrote {folder}")
        return
    missing = [f"--{n}" for n, v in (("person", person), ("article", article), ("target", target)) if v is None]
    if missing:
        raise typer.BadParameter(f"missing {', '.join(missing)}: --person is the photo, --article the product photo "
                                 "of what the person wears, --target the article to put on (or give --pairs)")
    result = model(person, article, target)
    path = result.save(out)
    typer.echo(f"wrote {path} and {path.with_name(path.stem + '_alpha.png')} (alpha area "
               f"{result.to_json()['alpha_area'][0]:.3f})")


@tryon_app.command("eval")
def tryon_eval(
    ckpt: Path = typer.Argument(..., help="Try-on run folder or checkpoint."),
    pairs: Path = typer.Argument(..., help="Pairs CSV, pairs .txt or folder (as for train)."),
    split: str = typer.Option("val", help="Split to evaluate (rows without a split are split as in training)."),
    embed_model: Optional[Path] = typer.Option(None, help="Embedding run or checkpoint for 'wears the target' top-1/top-5 "
                                                          "[not measured]; see 'modiste tryon embed-pairs'."),
    fd: bool = typer.Option(True, "--fd/--no-fd", help="FD and KID against real person photos (trains a feature network once)."),
    features: Optional[Path] = typer.Option(None, help="Feature-network checkpoint for FD/KID [train one on the other rows' photos]."),
    out: Optional[Path] = typer.Option(None, help="Folder for eval.json and sheet.png [RUN/eval].", callback=writable_folder),
    workers: int = typer.Option(2, help="Decoding threads."),
    device: Optional[str] = typer.Option(None, help="cpu or cuda."),
):
    """Cycle L1/SSIM, alpha area, alpha outside clothing, colour error, wears-the-target top-1/top-5, FD/KID.

    Example: modiste tryon eval runs/tryon/a data/tryon/pairs.csv --embed-model runs/embed/wear
    """
    from modiste.tryon.apply import TryOn

    model = TryOn.load(ckpt, device=device)
    report = model.evaluate(pairs, split=split, embed_model=embed_model, fd=fd, features=features, out=out,
                            workers=workers)
    folder = out or model.run_dir / "eval"
    typer.echo(f"{report}\nwrote {folder / 'eval.json'} and {folder / 'sheet.png'}")


@tryon_app.command("embed-pairs")
def tryon_embed_pairs(
    pairs: Path = typer.Argument(..., help="Pairs CSV with a person_parse column."),
    out: Path = typer.Argument(..., help="Folder for query/ crops and pairs.csv.", callback=writable_folder),
    split: str = typer.Option("train", help="Split whose pairs to use (keep the evaluated split out)."),
    size: Optional[str] = typer.Option(None, help="HEIGHTxWIDTH the crops are cut at: the try-on size [128x96]."),
):
    """Street-to-shop pairs (worn region -> product photo) for an embedding that tells which article a person wears.

    Example: modiste tryon embed-pairs data/tryon/pairs.csv data/wear
             modiste embed train data/wear/pairs.csv --out runs/embed/wear
    """
    from modiste.tryon.wear import embed_pairs

    path = embed_pairs(pairs, out, split=split, **given(size=_size(size)))
    typer.echo(f"wrote {path}; train with: modiste embed train {path} --out runs/embed/wear")
