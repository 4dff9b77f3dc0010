"""Faithfulness and cost of every explanation method, per model: ``python -m bench.eval`` (``make eval``).

For each held-out text and method: comprehensiveness and sufficiency with the attention-Shapley paper's
protocol and ERASER's AOPC bins (the engine's ``attnserve.faithfulness``), latency against a plain
forward pass measured in the same run (``run``), then paired differences, rank agreement and the Pareto
front (``stats``), written as Markdown, JSON and a plot (``report``). Every model with a bundle is
evaluable by its name, loaded from its release set as its archive serves it (``models.MODELS``).
"""
