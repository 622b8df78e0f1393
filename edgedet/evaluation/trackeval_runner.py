"""Run by the TrackEval environment's own Python (not imported by edgedet): HOTA, CLEAR and Identity
metrics of MOTChallenge-format files, printed as one JSON object on stdout.

    python trackeval_runner.py GT_FOLDER TRACKERS_FOLDER SEQ_INFO_JSON

``GT_FOLDER/<seq>/gt/gt.txt`` (class 1 rows are evaluated), ``TRACKERS_FOLDER/<tracker>/data/<seq>.txt``;
SEQ_INFO_JSON maps each sequence to its frame count. Only TrackEval and numpy are imported here.
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile

import numpy as np
import trackeval

FIELDS = {"HOTA": ("HOTA", "DetA", "AssA", "LocA"), "CLEAR": ("MOTA", "MOTP", "IDSW", "Frag", "CLR_TP", "CLR_FN",
                                                                 "CLR_FP", "MT", "ML"),
          "Identity": ("IDF1", "IDP", "IDR")}


def plain(metric: str, values: dict) -> dict:
    out = {}
    for name in FIELDS[metric]:
        value = values[name]
        out[name] = float(np.mean(value)) if np.ndim(value) else (int(value) if float(value).is_integer()
                                                                   and name not in ("MOTA", "MOTP") else
                                                                   float(value))
    return out


def main(gt: str, trackers: str, seq_info: str) -> None:
    lengths = json.loads(seq_info)
    config = trackeval.Evaluator.get_default_eval_config()
    config.update({"USE_PARALLEL": False, "PRINT_RESULTS": False, "PRINT_CONFIG": False, "OUTPUT_SUMMARY": False,
                   "OUTPUT_DETAILED": False, "PLOT_CURVES": False, "TIME_PROGRESS": False,
                   "PRINT_ONLY_COMBINED": True, "OUTPUT_EMPTY_CLASSES": False, "BREAK_ON_ERROR": True,
                   "RETURN_ON_ERROR": False, "LOG_ON_ERROR": None, "DISPLAY_LESS_PROGRESS": True})
    data = trackeval.datasets.MotChallenge2DBox.get_default_dataset_config()
    data.update({"GT_FOLDER": gt, "TRACKERS_FOLDER": trackers, "SEQ_INFO": lengths, "SKIP_SPLIT_FOL": True,
                 "CLASSES_TO_EVAL": ["pedestrian"], "BENCHMARK": "edgedet", "SPLIT_TO_EVAL": "all",
                 "PRINT_CONFIG": False, "OUTPUT_FOLDER": tempfile.mkdtemp(prefix="trackeval-")})
    quiet = {"PRINT_CONFIG": False}
    metrics = [trackeval.metrics.HOTA(quiet), trackeval.metrics.CLEAR(quiet), trackeval.metrics.Identity(quiet)]
    with contextlib.redirect_stdout(sys.stderr):  # TrackEval prints its progress; stdout is the JSON alone
        results, _ = trackeval.Evaluator(config).evaluate([trackeval.datasets.MotChallenge2DBox(data)], metrics)
    out = {}
    for tracker, per_seq in results["MotChallenge2DBox"].items():
        out[tracker] = {seq: {k: v for metric in FIELDS for k, v in plain(metric, res["pedestrian"][metric]).items()}
                        for seq, res in per_seq.items()}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(*sys.argv[1:4])
