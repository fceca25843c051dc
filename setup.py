"""Build of the Python binding of mutls: `pip install .` or `pip install -e .`.

The project's metadata is in pyproject.toml; this file builds the C
extension and gives the version (pyproject's only dynamic field), read from
MUTLS_VERSION in csrc/include/mutls.h, the one place it is written.
The extension mutls._mutls is compiled from the C core (csrc/*.c) and the
binding (bindings-python/src/*.c) into one shared object, against the system
GnuTLS found with pkg-config (Debian: libgnutls28-dev, pkg-config; see
README.md). The pure-Python package lives in bindings-python/mutls.
"""
import glob
import os
import re
import shlex
import subprocess
import sys

from setuptools import Extension, find_packages, setup

ROOT = os.path.dirname(os.path.abspath(__file__))
# setuptools wants paths relative to setup.py
os.chdir(ROOT)


def version():
    with open(os.path.join("csrc", "include", "mutls.h"), encoding="utf-8") as f:
        m = re.search(r'#define MUTLS_VERSION "([^"]+)"', f.read())
    if not m:
        raise RuntimeError("MUTLS_VERSION not found in csrc/include/mutls.h")
    return m.group(1)


def pkg_config(*args):
    try:
        out = subprocess.run(
            ["pkg-config", *args, "gnutls"], check=True, capture_output=True, text=True
        ).stdout
    except FileNotFoundError:
        sys.exit("mutls: pkg-config not found; install it (Debian: apt-get install pkg-config)")
    except subprocess.CalledProcessError as e:
        sys.exit(
            "mutls: pkg-config cannot find GnuTLS (Debian: apt-get install libgnutls28-dev): "
            + e.stderr.strip()
        )
    return shlex.split(out)


def gnutls_flags():
    modversion = pkg_config("--modversion")
    if modversion and tuple(int(x) for x in re.findall(r"\d+", modversion[0])[:2]) < (3, 7):
        sys.exit("mutls: GnuTLS 3.7 or newer is needed, found " + modversion[0])
    cflags = pkg_config("--cflags")
    libs = pkg_config("--libs")
    include_dirs = [f[2:] for f in cflags if f.startswith("-I")]
    other_cflags = [f for f in cflags if not f.startswith("-I")]
    library_dirs = [f[2:] for f in libs if f.startswith("-L")]
    libraries = [f[2:] for f in libs if f.startswith("-l")]
    other_libs = [f for f in libs if not f.startswith(("-L", "-l"))]
    return include_dirs, other_cflags, library_dirs, libraries, other_libs


inc, cflags, libdirs, libs, ldflags = gnutls_flags()

sources = sorted(glob.glob("csrc/*.c")) + sorted(glob.glob("bindings-python/src/*.c"))

extension = Extension(
    "mutls._mutls",
    sources=sources,
    include_dirs=["csrc/include", "csrc", "bindings-python/src", *inc],
    depends=sorted(glob.glob("csrc/*.h") + glob.glob("csrc/include/*.h")
                   + glob.glob("bindings-python/src/*.h")),
    # The core is linked in statically: keep its symbols private.
    define_macros=[("MUTLS_STATIC_BUILD", "1")],
    extra_compile_args=[
        *cflags,
        "-std=gnu11",
        "-pthread",
        "-fvisibility=hidden",
        "-Wall",
        "-Wextra",
        "-Wno-unused-parameter",
        "-Wno-missing-field-initializers",
        "-Wno-cast-function-type",
    ],
    library_dirs=libdirs,
    libraries=libs,
    extra_link_args=[*ldflags, "-pthread"],
)

package_dir = "bindings-python"

setup(
    version=version(),
    packages=find_packages(package_dir, include=["mutls", "mutls.*"]),
    package_dir={"": package_dir},
    package_data={"mutls": ["py.typed", "_mutls.pyi", "cli/demo.lua"]},  # demo.lua: mutls demo --lua
    include_package_data=False,
    ext_modules=[extension],
    zip_safe=False,
    # keep setuptools' build tree apart from CMake's build/
    options={"build": {"build_base": os.path.join("build", "python")}},
)
