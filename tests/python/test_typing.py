"""Type information: the stubs of mutls._mutls match the extension
(mypy's stubtest), and the pure-Python modules pass mypy --strict."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

import mutls

PACKAGE = Path(mutls.__file__).resolve().parent

# Differences stubtest reports that are deliberate:
# - Config.__init__ is a C tp_init (runtime signature *args, **kwargs); the
#   stub spells out the keyword-only options.
# - Error.code / Error.reasons are None / () on the bare class; every error
#   mutls raises sets them, so the stub types them as str / list[str].
ALLOWLIST = """\
mutls._mutls.Config.__init__
mutls._mutls.Error.code
mutls._mutls.Error.reasons
"""


def test_package_has_py_typed_and_stubs() -> None:
    assert (PACKAGE / "py.typed").exists()
    assert (PACKAGE / "_mutls.pyi").exists()


def test_stubs_match_the_extension(tmp_path: Path) -> None:
    pytest.importorskip("mypy", reason="mypy is not installed (pip install mypy)")
    allow = tmp_path / "allowlist.txt"
    allow.write_text(ALLOWLIST)
    r = subprocess.run([sys.executable, "-m", "mypy.stubtest", "mutls._mutls", "--allowlist", str(allow)],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr


def test_pure_python_modules_pass_mypy_strict(tmp_path: Path) -> None:
    pytest.importorskip("mypy", reason="mypy is not installed (pip install mypy)")
    names = ["aio.py", "_socketio.py", "_linger.py", "_resumption.py", "pytest_plugin.py", "_mutls.pyi"]
    # the HTTP client modules, when their libraries are installed (extras)
    if importlib.util.find_spec("httpx") is not None:
        names.append("httpx.py")
    if importlib.util.find_spec("requests") is not None and importlib.util.find_spec("urllib3") is not None:
        names.append("requests.py")
    if importlib.util.find_spec("uvicorn") is not None:
        names.append("asgi.py")
    names.append("wsgi.py")
    files = [str(PACKAGE / name) for name in names]
    r = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
                        "--cache-dir", str(tmp_path / "cache"), *files],
                       capture_output=True, text=True, timeout=300, cwd=PACKAGE.parent)
    assert r.returncode == 0, r.stdout + r.stderr
