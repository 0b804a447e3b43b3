"""Synthetic data for tests, benchmarks and the demo (no torch: cheap to import).

>>> from learner.synthetic import DocumentGenerator, DriftProfile
"""

from learner.synthetic.documents import (
    DOCUMENT_TYPES,
    Document,
    DocumentGenerator,
    DriftProfile,
    Language,
)

__all__ = ["DOCUMENT_TYPES", "Document", "DocumentGenerator", "DriftProfile", "Language"]
