"""The ONNX Runtime backend: letterbox, one ``session.run``, boxes back to frame pixels."""

from __future__ import annotations

from collections.abc import Callable
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


ROIS_INPUT = "rois"  # the proposals of a model without an RPN, [B, R, 4] canvas pixels
# canvases uint8 [B, H, W, 3] and R -> rois float32 [B, R, 4] (zero rows past an image's proposals)
ProposalSource = Callable[[np.ndarray, int], np.ndarray]


class OnnxDetector(Detector):
    """Runs an edgedet ONNX file; frames of any size, any count (chunked to a fixed batch).

    A file of a model without an RPN (the lineage's Fast R-CNN) has a second input, ``rois``: its region
    proposals come from the ``proposals`` source the caller passes (the lineage passes selective search,
    ``selective_search.padded_proposals``), called on each batch of canvases."""

    concurrent = True  # an InferenceSession's run may be called from several threads at once

    def __init__(self, path: str | Path, provider: Provider | str = Provider.cpu, threads: int | None = None,
                 profile: str | None = None, spin: bool = True, proposals: ProposalSource | None = None) -> None:
        self.path = Path(path)
        self.session = make_session(path, provider, threads, profile, spin)
        props = self.session.get_modelmeta().custom_metadata_map
        self.adopt(ModelMetadata.from_props(props, source=f"'{path}'"), str(path))
        self._output_names = [o.name for o in self.session.get_outputs()]
        has_rois = any(i.name == ROIS_INPUT for i in self.session.get_inputs())
        self._rois = int(self.meta.extra.get("rois", 0)) if has_rois else 0
        if self._rois and proposals is None:
            raise EdgedetError(f"'{path}' takes its region proposals as an input ('{ROIS_INPUT}', {self._rois} per "
                               "image): pass a proposal source (e.g. selective_search.padded_proposals)")
        self.proposals = proposals

    def _infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        feeds = {"images": batch}
        if self._rois:
            feeds[ROIS_INPUT] = np.ascontiguousarray(self.proposals(batch, self._rois), np.float32)
        return dict(zip(self._output_names, self.session.run(self._output_names, feeds)))

    def describe(self) -> BackendInfo:
        device = self.session.get_providers()[0] if self.session is not None else "closed"
        return BackendInfo(str(self.path), self.meta.architecture, "onnxruntime", device, self.meta.precision)

    def end_profiling(self) -> Path:
        """Finish ONNX Runtime's trace (sessions made with ``profile=``) and return its file."""
        return Path(self.session.end_profiling())

    def _close(self) -> None:
        self.session = None
