"""``edgedet eval-tracks``: MOT metrics and counting accuracy of a model with a tracker on sequences with
ground truth."""

from __future__ import annotations

from pathlib import Path

import typer

from edgedet.cli.console import console, emit_json, progress_bar
from edgedet.cli.options import (
    COUNT_AFTER,
    BackendOption,
    CountAfter,
    JsonOut,
    ModelFile,
    PrecisionOption,
    ProviderOption,
    Threads,
    TrackerName,
    TrackParams,
)
from edgedet.runtime.detector import Precision
from edgedet.runtime.loader import Backend
from edgedet.runtime.onnx_detector import Provider


def eval_tracks(
    model: ModelFile,
    data: Path = typer.Option(..., "--data", "-d", help="A sequence folder (gt/gt.txt and a video or img1/) or a "
                              "folder of them, e.g. from 'edgedet data synth OUT --task tracking'."),
    track: TrackerName = typer.Option(TrackerName.bytetrack, "--track", help="The tracker to evaluate."),
    track_param: TrackParams = None,
    conf: float = typer.Option(0.25, min=0.0, max=1.0, help="Minimum score of the detections tracked."),
    detect_every: int = typer.Option(1, "--detect-every", min=1, max=100, metavar="N",
                                     help="Detect on one frame in N, the tracker carries the others (as in run)."),
    count_after: CountAfter = COUNT_AFTER,
    metrics_env: Path | None = typer.Option(None, "--metrics-env", help="Folder for TrackEval's own environment "
                                            "(default ~/.cache/edgedet/envs; made on first use)."),
    backend: BackendOption = Backend.auto,
    precision: PrecisionOption = Precision.fp32,
    provider: ProviderOption = Provider.cpu,
    threads: Threads = None,
    json_out: JsonOut = False,
) -> None:
    """HOTA, MOTA, IDF1, ID switches and fragmentations (TrackEval) of a model with a tracker, and how many
    line crossings and zone entries it counts exactly (against the sequences' analytics.json).

    TrackEval runs in an environment of its own (it needs the opencv-python wheel), made on first use.

    Examples:
      edgedet data synth data/tracks --task tracking
      edgedet eval-tracks model.onnx --data data/tracks --track bytetrack
      edgedet eval-tracks model.onnx --data data/tracks --track ocsort --backend openvino --json
    """
    from rich.table import Table

    from edgedet.cli.models import open_detector
    from edgedet.evaluation.mot_metrics import TRACKEVAL, environment
    from edgedet.evaluation.tracking_eval import evaluate_tracking, find_sequences
    from edgedet.runtime.engine import StreamOptions
    from edgedet.runtime.tracking import TrackerSpec, parse_params

    spec = TrackerSpec(track.value, parse_params(track_param or []))
    spec.make()  # a bad parameter is refused before anything opens
    sequences = find_sequences(data)
    with console.status("preparing TrackEval's environment"):
        env = environment("trackeval", [TRACKEVAL], metrics_env)
    with open_detector(model, provider=provider, threads=threads, backend=backend, precision=precision.value,
                       spin=False) as detector:
        with progress_bar(transient=True) as bar:
            task = bar.add_task("tracking", total=len(sequences), status="")
            result = evaluate_tracking(detector, sequences, spec, conf, StreamOptions(detect_every=detect_every,
                                                                                       count_after=count_after),
                                       env=env,
                                       progress=lambda name: bar.update(task, advance=1, status=name))
    table = Table(title=f"{model.name} + {spec.name} on {len(sequences)} sequences ({result.frames} frames, "
                  f"{result.fps:.1f} fps)")
    for column in ("sequence", "HOTA", "MOTA", "IDF1", "IDsw", "Frag", "counts"):
        table.add_column(column, justify="left" if column in ("sequence", "counts") else "right")
    for name, m in result.metrics.items():
        mine = [c for c in result.counts if c.sequence == name]
        counts = f"{sum(c.exact for c in mine)}/{len(mine)} exact" if mine else ""
        label = "[bold]all" if name == "COMBINED_SEQ" else name
        table.add_row(label, f"{m.hota:.3f}", f"{m.mota:.3f}", f"{m.idf1:.3f}", str(m.id_switches),
                      str(m.fragmentations), counts)
    console.print(table)
    (line_errors, line_true), (zone_errors, zone_true) = result.count_errors("line"), result.count_errors("zone")
    console.print(f"line counts exact on {result.lines_exact:.0%} of (sequence, line) pairs ({line_errors} off in "
                  f"{line_true} true crossings), zone entries on {result.zones_exact:.0%} of (sequence, zone) pairs "
                  f"({zone_errors} off in {zone_true})")
    if json_out:
        emit_json(result.to_json())
