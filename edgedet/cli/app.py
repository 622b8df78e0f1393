"""The ``edgedet`` command: the composition root.

Each command's module is imported only when that command runs, so ``edgedet run
model.onnx`` never loads torch. A user mistake (``EdgedetError``) prints one line and
exits 2; Ctrl-C exits 130.
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
    predict_cmd,
    profile_cmd,
    run_cmd,
    train_cmd,
)

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
app.command("build")(build_cmd.build)
app.command("run")(run_cmd.run)
app.command("profile")(profile_cmd.profile)
app.command("demo")(demo_cmd.demo)


def main() -> None:
    from runtime.errors import EdgedetError

    try:
        app(prog_name="edgedet")
    except EdgedetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
