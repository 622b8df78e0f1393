"""The ONNX Runtime backend: letterbox, one ``session.run``, boxes back to frame pixels."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import numpy as np

from edgedet.runtime.detector import BackendInfo, Detector
from edgedet.runtime.errors import EdgedetError
from edgedet.runtime.model_files import require_model_file
from edgedet.runtime.model_metadata import ModelMetadata


class Provider(str, Enum):
    """ONNX Runtime execution providers by their short names; each falls back to the CPU."""

    cpu = "cpu"
    cuda = "cuda"
    tensorrt = "tensorrt"


PROVIDER_CHAINS = {
    Provider.cpu: ["CPUExecutionProvider"],
    Provider.cuda: ["CUDAExecutionProvider", "CPUExecutionProvider"],
    Provider.tensorrt: ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
}


def make_session(path: str | Path, provider: Provider | str = Provider.cpu, threads: int | None = None,
                 profile: str | None = None, spin: bool = True):
    """An onnxruntime session; providers missing from this build fall back to the CPU. ``spin=False``
    stops idle intra-op threads from spinning: needed when several sessions share the cores run by
    run (measured: a spinning idle session steals a busy one's cores)."""
    import onnxruntime as ort

    try:
        provider = Provider(provider)
    except ValueError:
        raise EdgedetError(f"unknown provider '{provider}': choose one of "
                           f"{', '.join(p.value for p in Provider)}") from None
    path = require_model_file(path)
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if profile:  # a file prefix for ONNX Runtime's trace
        options.enable_profiling = True
        options.profile_file_prefix = profile
    available = set(ort.get_available_providers())
    providers = [p for p in PROVIDER_CHAINS[provider] if p in available] or ["CPUExecutionProvider"]
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises several unrelated types for a bad file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EdgedetError(f"onnxruntime cannot load '{path}' (not an ONNX model, or a damaged one): {first}") from None


ROIS_INPUT = "rois"  # a Fast R-CNN file's proposals, [B, R, 4] canvas pixels


class OnnxDetector(Detector):
    """Runs an edgedet ONNX file; frames of any size, any count (chunked to a fixed batch).

    A Fast R-CNN file (``edgedet lineage``) has a second input, ``rois``: its region proposals are
    computed here by selective search on each canvas (``runtime.selective_search``), as its eager
    model does, so the file runs end to end without torch."""

    def __init__(self, path: str | Path, provider: Provider | str = Provider.cpu, threads: int | None = None,
                 profile: str | None = None, spin: bool = True) -> None:
        self.path = Path(path)
        self.session = make_session(path, provider, threads, profile, spin)
        props = self.session.get_modelmeta().custom_metadata_map
        self.meta = ModelMetadata.from_props(props, source=f"'{path}'")
        self.class_names = self.meta.class_names
        self.canvas = self.meta.canvas
        self.fixed_batch = self.meta.batch
        self.fill = self.meta.letterbox_fill
        self._output_names = [o.name for o in self.session.get_outputs()]
        has_rois = any(i.name == ROIS_INPUT for i in self.session.get_inputs())
        self._rois = int(self.meta.extra.get("rois", 0)) if has_rois else 0

    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        if self.session is None:
            raise EdgedetError(f"the detector for '{self.path}' is closed")
        feeds = {"images": batch}
        if self._rois:
            from edgedet.runtime.selective_search import padded_proposals

            feeds[ROIS_INPUT] = padded_proposals(batch, self._rois)
        return dict(zip(self._output_names, self.session.run(self._output_names, feeds)))

    def describe(self) -> BackendInfo:
        device = self.session.get_providers()[0] if self.session is not None else "closed"
        return BackendInfo(str(self.path), self.meta.architecture, "onnxruntime", device, self.meta.precision)

    def end_profiling(self) -> Path:
        """Finish ONNX Runtime's trace (sessions made with ``profile=``) and return its file."""
        return Path(self.session.end_profiling())

    def close(self) -> None:
        self.session = None
        self._buffer = None
