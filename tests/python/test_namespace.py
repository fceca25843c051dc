"""The `mutls` module shows its API, not its helpers' imports: no `Any`,
`List`, `os` or `annotations` in dir(mutls) or `from mutls import *`."""

from __future__ import annotations

import subprocess
import sys
import types

import mutls

SUBMODULES = {"aio", "cli", "pytest_plugin", "httpx", "requests", "asgi", "wsgi"}  # attributes once imported


def test_public_names_are_the_api() -> None:
    import mutls.aio  # noqa: F401  (a submodule becomes an attribute: allowed)

    # pytest rewrites the modules of a distribution that has a pytest11
    # entry point (mutls.pytest_plugin) and leaves "@py_builtins" and
    # "@pytest_ar" in them: not identifiers, so no one's API
    public = {n for n in dir(mutls) if not n.startswith("_") and n.isidentifier()}
    assert public - set(mutls.__all__) - SUBMODULES == set()
    for n in ("Any", "List", "Tuple", "Union", "Optional", "os", "socket", "time", "tempfile", "annotations"):
        assert n not in dir(mutls), n
    for n in public:
        value = getattr(mutls, n)
        if isinstance(value, types.ModuleType):
            assert value.__name__ == f"mutls.{n}", n
    assert set(mutls.__all__) <= set(dir(mutls))


def test_star_import_gives_exactly_all() -> None:
    code = ("from mutls import *\n"
            "names = sorted(n for n in dir() if not n.startswith('_'))\n"
            "print(' '.join(names))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert set(r.stdout.split()) == {n for n in mutls.__all__ if not n.startswith("_")}
