"""The ``edgedet`` command: the composition root.

Each command's module imports its heavy dependencies only when it runs, so ``edgedet run
model.onnx`` never loads torch. A user mistake prints one line, ``error: ...``, and exits 2:
the library's ``EdgedetError`` and the parser's own refusals (a bad flag value, a missing
argument) alike. Ctrl-C exits 130.
"""

from __future__ import annotations

import sys

import typer

from edgedet.cli import (
    build_cmd,
    data_cmd,
    demo_cmd,
    eval_cmd,
    export_cmd,
    info_cmd,
    lineage_cmd,
    predict_cmd,
    profile_cmd,
    quantize_cmd,
    run_cmd,
    train_cmd,
)
from edgedet.runtime.errors import EdgedetError

try:  # Typer >= 0.2x vendors Click; older Typer uses Click itself
    from typer._click import exceptions as parser_errors
except ImportError:  # pragma: no cover
    from click import exceptions as parser_errors

app = typer.Typer(
    name="edgedet",
    help="Faster R-CNN from PyTorch to the edge: train, export to static ONNX, check parity, run, profile.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(data_cmd.app, name="data")
app.command("train")(train_cmd.train)
app.command("eval")(eval_cmd.evaluate)
app.command("predict")(predict_cmd.predict)
app.command("export")(export_cmd.export)
app.command("check")(export_cmd.check)
app.command("info")(info_cmd.info)
app.command("quantize")(quantize_cmd.quantize)
app.command("build")(build_cmd.build)
app.command("run")(run_cmd.run)
app.command("profile")(profile_cmd.profile)
app.command("demo")(demo_cmd.demo)
app.command("lineage")(lineage_cmd.lineage)


def _usage_line(exc: parser_errors.UsageError) -> str:
    command = exc.ctx.command_path if exc.ctx is not None else "edgedet"
    return f"{exc.format_message()} (see '{command} --help')"


# What to install for a package the edge install leaves out (the package's top-level name).
EXTRA_FOR = {"nncf": "quantize", "openvino": "openvino", "tensorrt": "trt", "polygraphy": "trt", "triton": "trt",
             "cuda": "trt", "ray": "cluster"}


def _missing_package_line(exc: ModuleNotFoundError, argv: list[str]) -> str:
    """A command of the exporter's or trainer's side run on the torch-free edge install."""
    package = (exc.name or "").split(".")[0]
    command = next((a for a in argv if not a.startswith("-")), "this command")
    extra = EXTRA_FOR.get(package, "train")
    if command == "quantize":
        extra = "train,quantize"
    return (f"'edgedet {command}' needs the '{package}' package, which this install lacks: "
            f"pip install 'edgedet[{extra}]'")


def main(argv: list[str] | None = None) -> None:
    try:
        code = app(args=argv, prog_name="edgedet", standalone_mode=False)
    except parser_errors.NoArgsIsHelpError as exc:
        print(exc.ctx.get_help() if exc.ctx else "", file=sys.stderr)
        code = 2
    except parser_errors.UsageError as exc:
        print(f"error: {_usage_line(exc)}", file=sys.stderr)
        code = 2
    except parser_errors.ClickException as exc:
        print(f"error: {exc.format_message()}", file=sys.stderr)
        code = exc.exit_code
    except EdgedetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 2
    except ModuleNotFoundError as exc:
        if not exc.name or exc.name.split(".")[0] == "edgedet":
            raise
        print(f"error: {_missing_package_line(exc, sys.argv[1:] if argv is None else argv)}", file=sys.stderr)
        code = 2
    except (KeyboardInterrupt, parser_errors.Abort):
        print("interrupted", file=sys.stderr)
        code = 130
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
