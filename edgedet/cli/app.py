"""The ``edgedet`` command: the composition root.

Each command's module imports its heavy dependencies only when it runs, so ``edgedet run
model.onnx`` never loads torch. A user mistake prints one line, ``error: ...``, and exits 2:
the library's ``EdgedetError`` and the parser's own refusals (a bad flag value, a missing
argument) alike. Ctrl-C exits 130. Anything else is a bug: one line naming it, exit 1, and the
traceback with ``--debug`` (anywhere on the command line) or ``EDGEDET_DEBUG=1``. Only Typer's public
names are used: its vendored Click is private and changes between releases.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

import typer

from edgedet import __version__
from edgedet.cli import (
    build_cmd,
    data_cmd,
    demo_cmd,
    eval_cmd,
    eval_tracks_cmd,
    export_cmd,
    info_cmd,
    lineage_cmd,
    predict_cmd,
    profile_cmd,
    quantize_cmd,
    run_cmd,
    serve_cmd,
    train_cmd,
)
from edgedet.cli.renamed_options import rewrite
from edgedet.runtime.errors import EdgedetError
from edgedet.runtime.install_hints import extras_line, install_line

app = typer.Typer(
    name="edgedet",
    help="Faster R-CNN from PyTorch to the edge: train, export to static ONNX, check parity, run, profile.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        print(f"edgedet {__version__}")
        raise typer.Exit(0)


@app.callback()
def _global_options(
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                 help="Print the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show the traceback of an internal error (anywhere on the "
                               "command line; or set EDGEDET_DEBUG=1)."),
) -> None:
    """Global options; ``main`` reads ``--debug`` itself, wherever it stands."""


# grouped in --help by what a user is doing: prepare data, train, export for a target, deploy, measure
app.add_typer(data_cmd.app, name="data", rich_help_panel="prepare")
# one-line summaries where the docstring's first paragraph runs over lines
SHORT_HELP = {
    "lineage": "The lecture's lineage, sliding window to Faster R-CNN, trained and scored on the same data.",
    "serve": "Serve a model over HTTP: /v1/detect, cameras at /v1/streams, Prometheus /metrics.",
    "eval": "COCO mAP (pycocotools) of any backend; OKS mAP too for a Keypoint R-CNN.",
    "eval-tracks": "HOTA, MOTA, IDF1 (TrackEval) of a model with a tracker, and its line and zone counts.",
}
for _name, _panel, _command in (
        ("info", "prepare", info_cmd.info),
        ("train", "train", train_cmd.train),
        ("demo", "train", demo_cmd.demo),
        ("lineage", "train", lineage_cmd.lineage),
        ("export", "export", export_cmd.export),
        ("check", "export", export_cmd.check),
        ("quantize", "export", quantize_cmd.quantize),
        ("build", "export", build_cmd.build),
        ("run", "deploy", run_cmd.run),
        ("serve", "deploy", serve_cmd.serve),
        ("predict", "deploy", predict_cmd.predict),
        ("eval", "measure", eval_cmd.evaluate),
        ("eval-tracks", "measure", eval_tracks_cmd.eval_tracks),
        ("profile", "measure", profile_cmd.profile),
):
    app.command(_name, rich_help_panel=_panel, short_help=SHORT_HELP.get(_name))(_command)


# What to install for a package the edge install leaves out (the package's top-level name).
def _missing_package_line(exc: ModuleNotFoundError, argv: list[str]) -> str:
    """A command of the exporter's or trainer's side run on the torch-free edge install."""
    package = (exc.name or "").split(".")[0]
    command = next((a for a in argv if not a.startswith("-")), "this command")
    line = extras_line("train,quantize") if command == "quantize" else install_line(package)
    return f"'edgedet {command}' needs the '{package}' package, which this install lacks: {line}"


DEBUG_ENV = "EDGEDET_DEBUG"


def _debugging(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get(DEBUG_ENV, "") not in ("", "0")


def _parser_error(exc: typer.TyperException) -> tuple[str, int]:
    """(what to print, exit code) for the parser's own refusals, read through Typer's public surface: every
    exception it raises derives from ``typer.TyperException``, and a usage error carries the ``ctx`` it
    failed in. A group asked for nothing (``no_args_is_help``) is a usage error whose message is the help,
    which Typer's rich formatter has already printed (the message is then empty)."""
    ctx = getattr(exc, "ctx", None)
    message = exc.format_message()
    if ctx is not None and (not message or message.lstrip().startswith("Usage:")):
        return message, 2
    if ctx is not None:
        return f"error: {message} (see '{ctx.command_path} --help')", exc.exit_code
    return f"error: {message}", exc.exit_code


def _internal_error_line(exc: BaseException) -> str:
    """One line for a bug (ours or a dependency's): what broke and where, and how to see the traceback."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return (f"error: internal error: {type(exc).__name__}{': ' + text if text else ''}{where}; "
            f"run again with --debug (or {DEBUG_ENV}=1) for the traceback, and report it")


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    debug = _debugging(args)
    args = rewrite([a for a in args if a != "--debug"])
    try:
        code = app(args=args, prog_name="edgedet", standalone_mode=False)
    except typer.Abort:
        print("interrupted", file=sys.stderr)
        code = 130
    except typer.TyperException as exc:
        line, code = _parser_error(exc)
        if line:
            print(line, file=sys.stderr)
    except EdgedetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = 130
    except ModuleNotFoundError as exc:
        if debug or not exc.name or exc.name.split(".")[0] == "edgedet":
            raise
        print(f"error: {_missing_package_line(exc, args)}", file=sys.stderr)
        code = 2
    except Exception as exc:
        if debug:
            raise
        print(_internal_error_line(exc), file=sys.stderr)
        code = 1
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
