"""``python -m learner.demo [--workdir DIR] [--seed N] [--no-crash]``: the multi-process demo."""

from __future__ import annotations

import argparse
from pathlib import Path

from learner.demo.director import DemoSettings, run


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m learner.demo",
                                     description="Loopwise end to end: sidecars, learner, LoRA, A/B, rollback")
    parser.add_argument("--workdir", type=Path, default=Path("demo-run"),
                        help="where stores, registry, logs and the report go (replaced on each run)")
    parser.add_argument("--seed", type=int, default=DemoSettings.seed)
    parser.add_argument("--warmup-s", type=float, default=DemoSettings.warmup_s)
    parser.add_argument("--rate", type=float, default=DemoSettings.rate, help="documents per second")
    parser.add_argument("--stall-s", type=float, default=DemoSettings.stall_s,
                        help="fail when nothing has progressed (no loop event, no training step) for "
                             "this many seconds (default %(default).0f)")
    parser.add_argument("--deadline-s", type=float, default=DemoSettings.deadline_s,
                        help="also fail when the loop has not finished after this many seconds "
                             "(default 0: no fixed deadline)")
    parser.add_argument("--no-crash", action="store_true",
                        help="do not kill -9 the learner while it retrains (it is by default: a new "
                             "learner must take over where it stopped)")
    args = parser.parse_args()
    settings = DemoSettings(seed=args.seed, warmup_s=args.warmup_s, rate=args.rate, stall_s=args.stall_s,
                            deadline_s=args.deadline_s, crash_learner=not args.no_crash)
    return run(args.workdir.resolve(), settings)


if __name__ == "__main__":
    raise SystemExit(main())
