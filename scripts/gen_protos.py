"""Generate libs/stubs from protos/ (python, grpc, and mypy .pyi stubs).

Usage: python scripts/gen_protos.py [--check]

With --check nothing is written: the script regenerates into a temporary
directory and exits 1 if the committed stubs differ, so CI catches stale code.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
THIRD_PARTY = ROOT / "third_party" / "protos"
STUBS_SRC = ROOT / "libs" / "stubs" / "src"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")


def generate(out_dir: Path) -> None:
    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto"))
    well_known = str(resources.files("grpc_tools") / "_proto")
    plugin_dir = Path(sys.executable).parent
    command = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{THIRD_PARTY}",
        f"-I{well_known}",
        f"--plugin=protoc-gen-mypy={plugin_dir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={plugin_dir / 'protoc-gen-mypy_grpc'}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--mypy_out={out_dir}",
        f"--mypy_grpc_out={out_dir}",
        *protos,
    ]
    subprocess.run(command, check=True)
    for proto in protos:
        package_dir = out_dir / Path(proto).parent
        (package_dir / "__init__.py").write_text('"""Generated from protos/; do not edit."""\n')
        (package_dir / "py.typed").write_text("")


def generated_files(root: Path) -> set[Path]:
    return {
        p.relative_to(root)
        for p in root.rglob("*")
        if p.is_file()
        and (p.name.endswith(GENERATED_SUFFIXES) or p.name in ("__init__.py", "py.typed"))
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if committed stubs are stale")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        generate(fresh)
        fresh_files = generated_files(fresh)
        current_files = generated_files(STUBS_SRC)
        if args.check:
            stale = sorted(
                str(f)
                for f in fresh_files | current_files
                if f not in fresh_files
                or f not in current_files
                or not filecmp.cmp(fresh / f, STUBS_SRC / f, shallow=False)
            )
            if stale:
                print("stale generated stubs (run `make protos`):", *stale, sep="\n  ")
                return 1
            print("generated stubs are up to date")
            return 0
        for f in current_files - fresh_files:
            (STUBS_SRC / f).unlink()
        for f in fresh_files:
            (STUBS_SRC / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(fresh / f, STUBS_SRC / f)
    print(f"generated {len(fresh_files)} files under {STUBS_SRC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
