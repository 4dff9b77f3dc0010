"""Concept sensitivity (attention-weighted TCAV): the CAV file format (``bank``), the pure maths over a
pass (``tcav``), significance across CAVs (``stats``), the ``tcav`` method of a request (``online``) and
global scores (``global_scores``).

No TorchServe and no scikit-learn here: CAVs are trained at archive build (model_store/recipes/cav.py);
serving only loads them and projects gradients onto them. Nothing is imported here: import names from
the module that defines them.
"""
