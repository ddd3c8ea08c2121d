"""Experiments built on nnlite: the lecture's depth study (``depth``), the command behind
``python -m nnlite depth``."""
from .depth import (
                    ACTIVATIONS,
                    DEPTHS,
                    QUICK,
                    DepthStudyResults,
                    build_network,
                    depth_study,
                    load_study_data,
)

__all__ = ["ACTIVATIONS", "DEPTHS", "QUICK", "build_network", "depth_study",
           "DepthStudyResults", "load_study_data"]
