"""A fresh install works: the lock covers what pyproject.toml asks for, every documented extra resolves on
Python 3.11, no dependency's private module is imported, and an internal error through the real console
script is one line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.conftest import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LOCKED_EXTRAS = ("train", "dev", "openvino", "quantize", "cluster", "serve")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            name, version = line.split("==", 1)
            pins[_normal(name)] = version.split(";")[0].strip()
    return pins


def _requirements(*extras: str) -> list[Requirement]:
    project = PYPROJECT["project"]
    reqs = list(project["dependencies"])
    for extra in extras:
        reqs += project["optional-dependencies"][extra]
    return [Requirement(r) for r in reqs]


def test_the_lock_pins_every_requirement_within_its_range():
    pins = _lock()
    for req in _requirements(*LOCKED_EXTRAS):
        assert _normal(req.name) in pins, f"{req.name} is not in requirements.lock: python tools/refresh_lock.py"
        assert req.specifier.contains(pins[_normal(req.name)], prereleases=True), (req, pins[_normal(req.name)])
    assert set(LOCKED_EXTRAS) | {"gpu", "trt", "trt-cu12"} == set(PYPROJECT["project"]["optional-dependencies"])


def test_the_readme_and_ci_install_with_the_lock():
    readme, ci = (ROOT / "README.md").read_text(), (ROOT / ".ci" / "run").read_text()
    for text in (readme, ci):
        installs = [line for line in text.splitlines() if "pip install" in line and "-e '.[train,dev]'" in line]
        assert installs and all("-c requirements.lock" in line for line in installs), installs


def test_python_version_is_what_is_tested():
    assert PYPROJECT["project"]["requires-python"] == ">=3.11,<3.12"
    assert sys.version_info[:2] == (3, 11)


PRIVATE_IMPORT = re.compile(r"^\s*(?:from|import)\s+([A-Za-z0-9]+)\.(_[A-Za-z]\w*)", re.M)


def test_no_private_module_of_a_dependency_is_imported():
    hits = []
    for folder in ("edgedet", "runtime", "export", "tools", "bench", "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            if ".venv" in path.parts:
                continue
            for match in PRIVATE_IMPORT.finditer(path.read_text()):
                if match.group(1) not in ("edgedet", "tests"):
                    hits.append(f"{path.relative_to(ROOT)}: {match.group(0).strip()}")
    assert not hits, hits


DOCUMENTED_EXTRAS = ("train,dev", "openvino", "quantize", "cluster", "serve", "gpu")


def _trt_rest() -> list[str]:
    """The ``trt`` extra without TensorRT's own wheel (its payload comes from NVIDIA's index while pip reads
    its metadata, unreachable here) and without what the base install already asks for."""
    base = {r.name for r in _requirements()}
    return [str(r) for r in _requirements("trt") if not r.name.startswith("tensorrt") and r.name not in base]


@pytest.mark.slow
def test_every_documented_extra_resolves():
    """pip's own resolver against the package index, for Python 3.11 (this interpreter). A solution for the
    union of extras is one for each of them, so the extras that install together (and the rest of ``trt``,
    whose CUDA bindings must agree with torch's, with no old ``cuda-python`` pulled in) are one dry run;
    ``gpu`` (onnxruntime-gpu) is its own, in parallel (they wait on the network)."""
    rest = _trt_rest()
    assert any(r.startswith("cuda-bindings") for r in rest)
    together = ",".join(e for e in DOCUMENTED_EXTRAS if e != "gpu")
    runs = {f"{together} + trt": [f".[{together}]", *rest], "gpu": [".[gpu]"]}
    procs = {name: subprocess.Popen([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
                                     "--disable-pip-version-check", *args], cwd=ROOT, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True) for name, args in runs.items()}
    failed = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=600)
        if proc.returncode != 0:
            failed[name] = err[-1500:]
        elif name.endswith("+ trt"):
            assert "cuda-python" not in out, out[-1500:]
    assert not failed, failed


def test_an_internal_error_through_the_console_script_is_one_line(tmp_path):
    """A bug (here one planted in ``edgedet info`` by a ``sitecustomize``, as a dependency's AttributeError would
    surface) prints one line naming it and how to see the traceback, exit 1; --debug shows the traceback."""
    (tmp_path / "sitecustomize.py").write_text(
        "import edgedet.runtime.model_files as m\n"
        "def broken(*a, **k):\n    raise AttributeError('type')\n"
        "m.require_model_file = broken\n")
    script = Path(sys.executable).with_name("edgedet")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    env.pop("EDGEDET_DEBUG", None)
    model = tmp_path / "m.onnx"
    model.write_bytes(b"x")
    r = subprocess.run([str(script), "info", str(model)], capture_output=True, text=True, env=env, timeout=120)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert lines[0].startswith("error: internal error: AttributeError: type at ") and "--debug" in lines[0]
    assert "EDGEDET_DEBUG=1" in lines[0]
    for extra, environ in ((["--debug"], env), ([], {**env, "EDGEDET_DEBUG": "1"})):
        r = subprocess.run([str(script), "info", str(model), *extra], capture_output=True, text=True,
                           env=environ, timeout=120)
        assert r.returncode == 1 and "Traceback" in r.stderr and "AttributeError: type" in r.stderr


def test_version_and_parser_errors_use_typers_public_surface(capsys):
    from edgedet import __version__
    from edgedet.cli.app import main

    for argv, code in ((["--version"], 0), (["run"], 2), (["run", "m.onnx", "--xyzzy"], 2)):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == code
    out, err = capsys.readouterr()
    assert out.strip().splitlines()[0] == f"edgedet {__version__}"
    assert err.splitlines() == ["error: Missing argument 'model'. (see 'edgedet run --help')",
                                "error: No such option: --xyzzy (see 'edgedet run --help')"]


def test_every_install_hint_names_an_extra_that_exists():
    from edgedet.runtime.install_hints import EXTRA_FOR, SPECIAL, install_line

    extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    assert set(EXTRA_FOR.values()) <= extras
    for line in SPECIAL.values():
        assert set(re.findall(r"\.\[([\w-]+)\]", line)) <= extras
    assert install_line("nncf") == "pip install -e '.[quantize]' (in the edgedet checkout)"
    assert install_line("cuda") == SPECIAL["cuda"]


LIBRARY = ("runtime", "export", "edgedet/training", "edgedet/data", "edgedet/evaluation", "edgedet/architectures",
           "edgedet/lineage", "edgedet/checkpoints.py", "edgedet/eager_detector.py")
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]+")
OTHER_TOOLS = ("ray start --head",)  # another program's command line, not ours


def _error_texts(tree):
    import ast

    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in (
                "EdgedetError", "missing"):
            for part in ast.walk(node):
                if isinstance(part, ast.Constant) and isinstance(part.value, str):
                    yield node.lineno, part.value


def test_library_errors_speak_the_librarys_terms_not_cli_flags():
    """The CLI names its flags; the library under it names parameters, so an error raised to a Python caller
    does not tell them to pass a flag they never saw."""
    import ast

    found = []
    for base in LIBRARY:
        files = [ROOT / base] if base.endswith(".py") else sorted((ROOT / base).rglob("*.py"))
        for path in files:
            for line, text in _error_texts(ast.parse(path.read_text())):
                for tool in OTHER_TOOLS:
                    text = text.replace(tool, "")
                if FLAG.search(text):
                    found.append(f"{path.relative_to(ROOT)}:{line}: {text}")
    assert not found, "\n".join(found)
