"""``modiste export``: a detector or embedding checkpoint as a file other runtimes load."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from modiste.console import writable_file

FORMATS = ("onnx",)


def export_command(
    ckpt: Path = typer.Argument(..., help="Detector or embedding run folder, or a checkpoint file."),
    format: str = typer.Option("onnx", "--format", help="Output format: onnx."),
    out: Optional[Path] = typer.Option(None, help="Output file [the checkpoint's path with .onnx].", callback=writable_file),
    opset: int = typer.Option(17, help="ONNX opset version."),
):
    """Export the network (no pre- or postprocessing) with a JSON sidecar describing its input and outputs.

    The export is checked against torch with ONNX Runtime when it is installed (pip install modiste[onnx]).

    Example: modiste export runs/detect/a --format onnx
    """
    if format.lower() not in FORMATS:
        raise typer.BadParameter(f"format must be one of {', '.join(FORMATS)}, not {format!r}", param_hint="--format")
    from modiste.export import ExportCheckError, export_onnx, read_sidecar, sidecar_path

    try:
        path = export_onnx(ckpt, out, opset=opset)
    except (ValueError, FileNotFoundError) as e:
        raise typer.BadParameter(str(e), param_hint="CKPT") from None
    except ExportCheckError as e:
        typer.echo(f"export failed its check, nothing written: {e}", err=True)
        raise typer.Exit(1) from None
    side = read_sidecar(path)
    extra = f" and {path.parent / side['priors']}" if "priors" in side else ""
    typer.echo(f"wrote {path} ({side['kind']}, {side['exporter']} exporter, opset {opset}), "
               f"{sidecar_path(path)}{extra}")
    check = side.get("check")
    if check:
        typer.echo(f"onnxruntime matches torch on a batch of {check['batch']}: "
                   f"max abs diff {check['max_abs_diff']:.2e}")
    else:
        typer.echo("not checked: onnxruntime is not installed (pip install modiste[onnx])")
