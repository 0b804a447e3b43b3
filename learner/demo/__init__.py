"""`make demo`: the whole loop with real processes — see :mod:`learner.demo.director`.

``python -m learner.demo`` runs it (two sidecars, ``learner serve`` with LoRA retraining, a
simulated inference server); ``python -m learner.demo.walkthrough`` is the same story in one
process on a simulated clock (seconds, no torch).
"""
