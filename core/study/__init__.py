"""The paper's study: train the variants, learn every mask, and write Tables 1–3, the
findings, energies, clusters and figures from what a run holds."""

from .compare import compare_models
from .config import MODEL_CODES, STUDY_PRESETS, StudyConfig, given_models, study_config
from .contents import RunContents, discover, validation_set
from .findings import findings_table, wilson_interval
from .pipeline import StudyResult, run_study
from .probe import ProbeResult, linear_probe, mask_stability, umap_embedding
from .report import ReportResult, write_report

__all__ = [
    "MODEL_CODES",
    "STUDY_PRESETS",
    "ProbeResult",
    "ReportResult",
    "RunContents",
    "StudyConfig",
    "StudyResult",
    "compare_models",
    "discover",
    "findings_table",
    "linear_probe",
    "mask_stability",
    "run_study",
    "study_config",
    "given_models",
    "umap_embedding",
    "validation_set",
    "wilson_interval",
    "write_report",
]
