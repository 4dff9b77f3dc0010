"""The text modality: texts in, word pieces as players.

``codec``: input to model inputs and back; ``game``: the [MASK] game its attributions are measured and learned
on; ``explainer``: the ``Explainer`` protocol over them. Nothing is imported here: the games' cache
keys must not reach the explainer's serving code.
"""
