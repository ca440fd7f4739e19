"""Fetch the real API surface of TensorRT 10.x/11.x and pycuda, for tests/test_tensorrt_api.py.

TensorRT itself cannot be installed on the project's machines (its PyPI packages download the
real wheel from NVIDIA's own index), but the Python *bindings* wheels are on PyPI. Their
extension ``tensorrt_bindings/tensorrt.so`` cannot be imported without the TensorRT libraries,
yet its strings name every class, method, property and enum member of that exact release. This
script downloads, with pip:

* ``tensorrt-cu12-bindings==10.16.1.11`` and ``tensorrt-cu13-bindings==11.4.0.106`` (wheels), and
* the ``pycuda`` source distribution (its C++ wrapper and Python sources name its API),

and keeps only what the test reads: the strings of each ``tensorrt.so``, each ``__init__.py``
(it defines ``nptype`` and the ``Logger`` severities), and pycuda's wrapper and Python sources.

    python tools/fetch_trt_bindings.py            # into data_cache/api_surfaces/ (git-ignored)
    python tools/fetch_trt_bindings.py --force    # download again
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = Path(os.environ.get("TUTORIAL_DATA_DIR") or REPO_ROOT / "data_cache") / "api_surfaces"

TENSORRT_BINDINGS = {  # release label -> pip requirement
    "10": "tensorrt-cu12-bindings==10.16.1.11",
    "11": "tensorrt-cu13-bindings==11.4.0.106",
}
PYCUDA = "pycuda==2026.1"
# pip prepares an sdist's metadata even for `download`; in an isolated build environment that pip fills
# with the sdist's own build requirements (setuptools, wheel, numpy as wheels), so it works in a clean
# venv. `--no-build-isolation` would need them in this venv ("invalid command 'bdist_wheel'" without
# wheel or a recent setuptools); `--no-binary=:all:` would build numpy from source for the isolation.
SDIST_OPTIONS = {"pycuda": ["--no-binary=pycuda"]}
# The bindings wheels are built per CPython version; any one of them holds the same API.
WHEEL_TAGS = ["--python-version", "3.11", "--platform", "manylinux_2_28_x86_64", "--only-binary=:all:"]
PRINTABLE_RUN = re.compile(rb"[\x20-\x7e\t]{3,}")  # what `strings -n 3` prints


NETWORK_SYMPTOMS = ("Could not fetch URL", "NewConnectionError", "Temporary failure in name resolution",
                    "Max retries exceeded", "No matching distribution found", "Could not find a version",
                    "ConnectionError", "ReadTimeoutError", "Network is unreachable")


def explain_pip_failure(stderr: str) -> str:
    """Why `pip download` failed, in words: no access to PyPI, or a failed build of the sdist's metadata."""
    if any(symptom in stderr for symptom in NETWORK_SYMPTOMS):
        return "pip could not reach PyPI (this tool needs network access to PyPI)"
    if "metadata-generation-failed" in stderr or "bdist_wheel" in stderr or "build dependencies" in stderr:
        return "pip reached PyPI but could not prepare the source distribution's metadata"
    return "pip download failed"


def pip_download(requirement: str, destination: Path, extra: list[str]) -> Path:
    """Download one distribution with pip (no dependencies); return the downloaded file."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--disable-pip-version-check",
               "-d", str(destination), *extra, requirement]
    result = subprocess.run(command, capture_output=True, text=True)
    files = sorted(destination.iterdir())
    if result.returncode != 0 or not files:
        raise RuntimeError(f"`{' '.join(command)}` failed: {explain_pip_failure(result.stderr)}:\n{result.stderr[-2000:]}")
    return files[0]


def extension_strings(binary: bytes) -> list[str]:
    """Printable runs of at least 3 characters, like `strings -n 3`."""
    return [run.decode("ascii") for run in PRINTABLE_RUN.findall(binary)]


def fetch_tensorrt_bindings(release: str, requirement: str, cache: Path) -> Path:
    folder = cache / requirement.replace("==", "-")
    if (folder / "manifest.json").is_file():
        return folder
    with tempfile.TemporaryDirectory() as temporary:
        wheel = pip_download(requirement, Path(temporary), WHEEL_TAGS)
        with zipfile.ZipFile(wheel) as archive:
            extension = archive.read("tensorrt_bindings/tensorrt.so")
            init = archive.read("tensorrt_bindings/__init__.py")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "tensorrt.so.strings.txt").write_text("\n".join(extension_strings(extension)) + "\n")
        (folder / "__init__.py.txt").write_bytes(init)
        manifest = {"release": release, "requirement": requirement, "wheel": wheel.name,
                    "wheel_sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
                    "extension_sha256": hashlib.sha256(extension).hexdigest()}
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return folder


def fetch_pycuda_sources(requirement: str, cache: Path) -> Path:
    folder = cache / requirement.replace("==", "-")
    if (folder / "manifest.json").is_file():
        return folder
    with tempfile.TemporaryDirectory() as temporary:
        sdist = pip_download(requirement, Path(temporary), SDIST_OPTIONS[requirement.split("==")[0]])
        kept = []
        with tarfile.open(sdist) as archive:
            for member in archive.getmembers():
                parts = Path(member.name).parts
                wanted = (len(parts) == 3 and parts[1] == "pycuda" and parts[2].endswith(".py")) or (
                    len(parts) == 4 and parts[1:3] == ("src", "wrapper") and parts[3].endswith(".cpp"))
                if member.isfile() and wanted:
                    target = folder / Path(*parts[1:])
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(archive.extractfile(member).read())
                    kept.append("/".join(parts[1:]))
        manifest = {"requirement": requirement, "sdist": sdist.name,
                    "sdist_sha256": hashlib.sha256(sdist.read_bytes()).hexdigest(), "files": sorted(kept)}
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return folder


def ensure_api_surfaces(cache: Path = DEFAULT_CACHE, force: bool = False) -> dict[str, Path]:
    """Folders holding the API surfaces: {"10": ..., "11": ..., "pycuda": ...} (downloaded once)."""
    cache = Path(cache)
    if force and cache.exists():
        import shutil

        shutil.rmtree(cache)
    cache.mkdir(parents=True, exist_ok=True)
    folders = {release: fetch_tensorrt_bindings(release, requirement, cache)
               for release, requirement in TENSORRT_BINDINGS.items()}
    folders["pycuda"] = fetch_pycuda_sources(PYCUDA, cache)
    return folders


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--force", action="store_true", help="download again")
    args = parser.parse_args()
    for name, folder in ensure_api_surfaces(args.cache, args.force).items():
        print(f"{name}: {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
