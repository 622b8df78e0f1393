"""GStreamer through PyGObject, found wherever the system put it.

PyGObject is not a pip dependency: it is the distribution's (Debian/Ubuntu ``python3-gi``, JetPack), built
for the system's Python, and a virtual environment does not see the system's ``dist-packages``. When
``import gi`` fails, the distribution's copy is loaded from its own directory -- only the ``gi`` package,
never the rest of ``dist-packages``, and only one built for this interpreter's ABI (its extension module's
suffix must be one this Python imports), so a venv on the same Python gets GStreamer without
``--system-site-packages`` and nothing else of the system's leaks in.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import threading
from functools import cache
from pathlib import Path
from types import ModuleType

from edgedet.runtime.errors import EdgedetError

INSTALL = ("apt-get install python3-gi gir1.2-gstreamer-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good "
           "gstreamer1.0-libav (Debian/Ubuntu; JetPack ships them)")
_lock = threading.Lock()


def _system_dirs() -> list[Path]:
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return [Path("/usr/lib/python3/dist-packages"), Path(f"/usr/lib/{version}/dist-packages"),
            Path(f"/usr/local/lib/{version}/dist-packages"), Path("/usr/lib/python3/site-packages")]


def _builds_for_this_python(package: Path) -> bool:
    return any(package.glob(f"_gi{suffix}") for suffix in importlib.machinery.EXTENSION_SUFFIXES)


def _import_gi() -> ModuleType | None:
    try:
        return importlib.import_module("gi")
    except ImportError:
        pass
    for folder in _system_dirs():
        if not _builds_for_this_python(folder / "gi"):
            continue
        spec = importlib.machinery.PathFinder.find_spec("gi", [str(folder)])
        if spec is None or spec.loader is None:
            continue
        module = importlib.util.module_from_spec(spec)
        sys.modules["gi"] = module
        try:
            spec.loader.exec_module(module)
        except ImportError:
            del sys.modules["gi"]
            continue
        return module
    return None


@cache
def _load() -> ModuleType | None:
    with _lock:
        gi = _import_gi()
        if gi is None:
            return None
        try:
            gi.require_version("Gst", "1.0")
            from gi.repository import Gst
        except (ImportError, ValueError):
            return None
        Gst.init(None)
        return Gst


def available() -> bool:
    """True when GStreamer and its Python bindings can be used from this interpreter."""
    return _load() is not None


def gst() -> ModuleType:
    """The ``Gst`` module, initialised; a clear error saying what to install when there is none."""
    module = _load()
    if module is None:
        raise EdgedetError(f"GStreamer for Python (PyGObject) was not found for Python "
                           f"{sys.version_info.major}.{sys.version_info.minor}: {INSTALL}")
    return module

