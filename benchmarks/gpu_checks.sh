#!/usr/bin/env bash
# The GPU checks of one device session, in one command (see benchmarks/RESULTS.md, "CUDA").
#
# Prepared here:   python benchmarks/gpu_bundle.py pack        (.gpu/: the base model, fp16)
#                  pip download --no-deps --only-binary=:all: --python-version 3.12 (manylinux)
#                  grpcio, protobuf, grpcio-{health-checking,reflection,tools}, our versions, into .whl/ (the
#                  image lacks the last three, and its grpcio/protobuf may be older than our
#                  generated code needs)
# Run there with carry [".whl", ".gpu", "statcore/_statcore.abi3.so"]:
#                  bash benchmarks/gpu_checks.sh
# Writes its logs under $OUT (or /tmp/gpu-out). Every step has its own time limit, and a failed
# step does not stop the later ones; the exit status is the number of failed steps.
set -u
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
failed=0
step() {  # step NAME SECONDS COMMAND...
    local name=$1 limit=$2; shift 2
    echo "=== $name ($(date +%T))"
    timeout "$limit" "$@" 2>&1 | tee "$OUT/$name.txt"
    local rc=${PIPESTATUS[0]}
    echo "=== $name: exit $rc"
    [ "$rc" -eq 0 ] || failed=$((failed + 1))
}
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 100
fi
export PYTHONPATH=/tmp/site:$PWD/.gpu/site:$PWD
step machine 60 bash -c 'nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv;
    nproc; python3 -c "import sys, torch, transformers, peft, grpc, google.protobuf as pb;
print(sys.version.split()[0], torch.__version__, torch.version.cuda, transformers.__version__,
      peft.__version__, grpc.__version__, pb.__version__, torch.cuda.get_device_name())"'
step unpack 60 python3 benchmarks/gpu_bundle.py unpack
step bench_default 150 python3 benchmarks/bench_training.py --device cuda --steps 12 --rounds 6
step bench_large 180 python3 benchmarks/bench_training.py --device cuda --batch-size 64 \
    --seq-len 256 --steps 24 --rounds 6
# The training suite with Device.AUTO resolving to CUDA: bf16 autocast, the worker, the
# acceptance test's accuracy on a GPU, adapters saved and reloaded across devices.
# (test_grpc_source starts a sidecar process with PYTHONPATH set to the repo alone, so the
# carried wheels are not seen there; it has no GPU path.)
step pytest_training 240 python3 -m pytest -q -p no:cacheprovider -x -rs \
    --ignore tests/learner/training/test_grpc_source.py \
    tests/learner/training tests/learner/registry/test_artifacts_torch.py
echo "failed steps: $failed"
exit "$failed"
