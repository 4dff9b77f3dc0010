"""Concept sensitivity (attention-weighted TCAV): the CAV file format and the pure maths over a pass.

No TorchServe and no scikit-learn here: CAVs are trained at archive build (model_store/recipes/cav.py);
serving only loads them and projects gradients onto them.
"""

from attnserve.concepts.bank import FILE_NAME, RANDOM, CavBank, CavSet, load_cavs, save_cavs
from attnserve.concepts.stats import Significance, by_concept, significance
from attnserve.concepts.tcav import Sensitivity, attention_weighted, directional_derivatives, sensitivity, tcav_scores

__all__ = [
    "FILE_NAME",
    "RANDOM",
    "CavBank",
    "CavSet",
    "Sensitivity",
    "Significance",
    "attention_weighted",
    "by_concept",
    "directional_derivatives",
    "load_cavs",
    "save_cavs",
    "sensitivity",
    "significance",
    "tcav_scores",
]
