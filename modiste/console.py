"""What every capability's command line shares: unset options stay unset, and expected errors
are one line.

An expected error (a bad option value, a missing column, a malformed file, a checkpoint of the
wrong kind, a folder that cannot be written) prints ``error: <message>`` and exits 2 for usage
errors, 1 for the rest, without a traceback; only a real bug shows one (and every error does with
``MODISTE_DEBUG=1``). Warnings (bad images skipped and counted) print as ``warning: <message>``
without the source line that raised them.
"""
from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import Any, Sequence

# Errors the code raises on purpose, each with a message that names the file or setting at fault.
EXPECTED = (ValueError, KeyError, OSError)


def given(**options: Any) -> dict[str, Any]:
    """Only the options the user set, so the API's defaults (and a resumed run's saved settings) apply."""
    return {k: v for k, v in options.items() if v is not None}


def writable_folder(path: Any) -> Any:
    """A typer callback for an output folder: refused at once if it is a file or cannot be written."""
    if path is not None:
        path = Path(path)
        if path.exists() and not path.is_dir():
            _bad(f"{path} is a file, and this names a folder")
        _writable(path)
    return path


def writable_file(path: Any) -> Any:
    """A typer callback for an output file: refused at once if it is a folder or cannot be written."""
    if path is not None:
        path = Path(path)
        if path.is_dir():
            _bad(f"{path} is a folder, and this names a file")
        _writable(path.parent)
    return path


def _writable(path: Path) -> None:
    there = path.absolute()
    while not there.exists() and there != there.parent:
        there = there.parent
    if not there.is_dir() or not os.access(there, os.W_OK | os.X_OK):
        _bad(f"cannot write {path}: {there} is not a writable folder")


def _bad(message: str) -> None:
    import typer

    raise typer.BadParameter(message)


def _warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {message}", file=sys.stderr if file is None else file)


def run(app: Any, args: Sequence[str]) -> None:
    """Run the typer ``app`` on ``args`` as the ``modiste`` command: exits with its status."""
    import typer

    # typer's own click exceptions (recent typer ships click inside itself, under other classes)
    click_error = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
    debug = bool(os.environ.get("MODISTE_DEBUG"))
    shown = warnings.showwarning
    if not debug:
        warnings.showwarning = _warning
    try:
        code = app(args=list(args), prog_name="modiste", standalone_mode=False)
    except typer.Exit as e:
        code = e.exit_code
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(130)
    except click_error as e:  # usage: a bad option, a missing argument, a bad value
        if debug:
            raise
        print(f"error: {e.format_message()}", file=sys.stderr)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except EXPECTED as e:
        if debug:
            raise
        print(f"error: {_one_line(e)}", file=sys.stderr)
        sys.exit(1)
    finally:
        warnings.showwarning = shown
    sys.exit(code if isinstance(code, int) else 0)


def _one_line(e: BaseException) -> str:
    text = str(e) if not isinstance(e, KeyError) else str(e.args[0]) if e.args else "missing key"
    if isinstance(e, OSError) and e.strerror:  # not "[Errno 2] ...: 'path'"
        named = e.filename is None or str(e.filename) in e.strerror
        text = e.strerror if named else f"{e.filename}: {e.strerror}"
    return " ".join(text.split()) or type(e).__name__
