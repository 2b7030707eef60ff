"""The ``modiste`` command line: registers each capability's own commands (``<capability>/cli.py``)."""
from __future__ import annotations

import os
from pathlib import Path

import typer

# Idle OpenMP threads sleep instead of spinning: on a small machine shared with other work, a
# spinning thread that loses its core slows every parallel op tens of times (measured 2.7 vs 62
# images/s for the detector with a second job running). Set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from modiste.data.cli import data_app, synth_app  # noqa: E402
from modiste.detect.cli import detect_app  # noqa: E402
from modiste.export.cli import export_command  # noqa: E402
from modiste.gan.cli import gan_app  # noqa: E402
from modiste.latent.cli import latent_app  # noqa: E402
from modiste.retrieval.cli import embed_app, index_app, search_command, shop_command  # noqa: E402
from modiste.shots.cli import shots_app, sort_command, sort_eval_command  # noqa: E402
from modiste.tryon.cli import tryon_app  # noqa: E402

app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                  help="modiste: a deep-learning workshop for fashion item images.")
app.add_typer(synth_app, name="synth")
app.add_typer(gan_app, name="gan")
app.add_typer(data_app, name="data")
app.add_typer(latent_app, name="latent")
app.add_typer(embed_app, name="embed")
app.add_typer(index_app, name="index")
app.command("search")(search_command)
app.add_typer(detect_app, name="detect")
app.command("shop")(shop_command)
app.add_typer(shots_app, name="shots")
app.command("export")(export_command)
app.command("sort")(sort_command)
app.command("sort-eval", hidden=True)(sort_eval_command)
app.add_typer(tryon_app, name="tryon")


@app.command("models")
def models(pattern: str = typer.Argument("*", help="Glob over registered names.")):
    """List the registered model architectures.

    Example: modiste models 'dcgan*'
    """
    from modiste.nn.registry import list_models

    for name in list_models(pattern):
        typer.echo(name)


@app.command("demo")
def demo(
    out: Path = typer.Option(Path("runs/demo"), help="Folder for the demo's data, runs and index.html."),
    minutes: float = typer.Option(3.5, help="Training-time cap for the GAN part."),
    seed: int = typer.Option(0, help="Seed for data and training."),
):
    """Run every capability on built-in synthetic data and write one HTML page.

    Example: modiste demo --out runs/demo
    """
    from modiste.demo import run_demo

    page = run_demo(out, gan_minutes=minutes, seed=seed)
    typer.echo(f"open {page}")


def main(argv: list[str] | None = None) -> None:
    import sys

    from modiste.console import run

    args = list(sys.argv[1:] if argv is None else argv)
    if args[:2] == ["sort", "eval"]:  # "sort GALLERY" and "sort eval ..." share a name; click cannot mix them
        args = ["sort-eval", *args[2:]]
    run(app, args)


if __name__ == "__main__":
    main()
