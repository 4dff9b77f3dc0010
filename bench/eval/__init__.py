"""Faithfulness and cost of every explanation method, per model: ``python -m bench.eval`` (``make eval``).

For each held-out text and method: comprehensiveness and sufficiency with the attention-Shapley paper's
protocol and ERASER's AOPC bins (``metrics``), latency against a plain forward pass measured in the same
run (``run``), then paired differences, rank agreement and the Pareto front (``stats``), written as
Markdown, JSON and a plot (``report``). Models plug in by name (``models.MODELS``).
"""
