"""A checkpoint and the file exported from it describe the model under the same names, through one
serializer, so the file cannot contradict its checkpoint; files and checkpoints written before the names
were shared still read."""

from __future__ import annotations

import dataclasses

import pytest

from edgedet.checkpoints import CheckpointMeta
from edgedet.runtime.model_description import ModelDescription
from edgedet.runtime.model_metadata import ModelMetadata

NAMES = ("__background__", "person")
JOINTS = ("head", "hip", "foot")


def _checkpoint_meta() -> CheckpointMeta:
    return CheckpointMeta("keypointrcnn_edge_fpn", NAMES, (96, 128), keypoint_names=JOINTS,
                          skeleton=((0, 1), (1, 2)), roi_mode="pool", source_sha256="ab" * 32,
                          train={"epochs": 3})


def test_the_shared_fields_are_one_list():
    shared = {f.name for f in dataclasses.fields(ModelDescription)}
    assert shared <= {f.name for f in dataclasses.fields(CheckpointMeta)}
    assert shared <= {f.name for f in dataclasses.fields(ModelMetadata)}
    assert "arch" not in {f.name for f in dataclasses.fields(CheckpointMeta)}


def test_an_export_carries_its_checkpoints_description():
    meta = _checkpoint_meta()
    file_meta = meta.model_metadata()
    assert file_meta.description() == meta.description()
    read_back = ModelMetadata.from_props(file_meta.to_props())
    assert read_back == file_meta and read_back.description() == meta.description()
    assert read_back.roi_mode == "pool" and read_back.pose.names == JOINTS


def test_a_checkpoint_meta_round_trips_and_stores_the_shared_names():
    meta = _checkpoint_meta()
    stored = meta.to_dict()
    assert stored["architecture"] == "keypointrcnn_edge_fpn" and "arch" not in stored
    assert stored["num_classes"] == 2 and "source_sha256" not in stored  # the digest is the file's, not stored
    assert CheckpointMeta.from_dict(stored, "x.pt", sha256="ab" * 32) == meta


def test_older_checkpoints_and_files_still_read():
    old = {"format": "edgedet-checkpoint", "version": 1, "arch": "fasterrcnn_edge_fpn", "num_classes": 2,
           "class_names": list(NAMES), "canvas": [64, 64], "train": {}}
    meta = CheckpointMeta.from_dict(old, "old.pt")
    assert meta.architecture == "fasterrcnn_edge_fpn" and meta.roi_mode == "align" and meta.canvas == (64, 64)
    props = ModelMetadata("fasterrcnn_edge_fpn", NAMES, (64, 64), extra={"roi_mode": "pool"}).to_props()
    del props["edgedet.roi_mode"]  # a file written when roi_mode lived in extra
    assert ModelMetadata.from_props(props).roi_mode == "pool"


def test_a_checkpoint_meta_without_its_architecture_is_named():
    from edgedet.runtime.errors import EdgedetError

    with pytest.raises(EdgedetError, match="lacks 'architecture'"):
        CheckpointMeta.from_dict({"class_names": list(NAMES), "canvas": [64, 64]}, "bad.pt")
