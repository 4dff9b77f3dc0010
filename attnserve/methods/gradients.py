"""``saliency``: the gradient's size at each input embedding (Simonyan et al. 2013, arXiv 1312.6034, for
a transformer's embeddings): for each token t, ‖∂y/∂e_t‖, how strongly the explained logit y reacts to
the token's input embedding e_t (the output of the model's input-embedding module: a word piece, or
an image patch).

Unsigned, read from the capture's ``token_signals`` (channel ``grad_norm.0``), so it costs the one
backward pass the gradient-weighted methods already share. It sees no attention at all, which is what
makes it the gradient-only reference for the attention methods beside it. (Its signed sibling,
gradient × input, ranked tokens no better than the random ranking on the sentiment model, so it is
not served; see docs/methods.md.)
"""

from __future__ import annotations

from torch import Tensor

from attnserve.capture import TOKEN_SIGNALS, Capture, model_signal_names
from attnserve.methods.registry import Context, Method

CHANNEL = "grad_norm.0"  # block 0 of ``signal_names``: the embeddings


def saliency(c: Capture, context: Context) -> Tensor:
    channel = model_signal_names(context.model).index(CHANNEL)
    return c.token_signals[..., channel] * c.players


METHODS = [
    Method(
        "saliency",
        frozenset({TOKEN_SIGNALS}),
        saliency,
        False,
        "gradient norm at each input embedding (Simonyan et al. 2013); one backward pass, no attention",
    )
]
