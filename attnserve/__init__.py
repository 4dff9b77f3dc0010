"""attnserve's explanation engine: pure PyTorch, no TorchServe import.

One ``capture`` pass per batch (``attnserve.capture``) collects what the requested methods need; each
method in ``attnserve.methods.REGISTRY`` is a small pure function over that capture. Requests come in
through ``attnserve.explain`` (``ModelInfo``, the batch loop); a modality is a package
(``attnserve.text``, ``attnserve.image``: its codec, its masking game and its explainer) named in
``attnserve.loading.MODALITIES``; errors are ``attnserve.errors``. The faithfulness metrics over the
games are ``attnserve.faithfulness``; concept sensitivity is ``attnserve.concepts``.

Nothing is imported here, so importing one module loads only what that module needs (a build stage's
cache key hashes exactly the modules it imports): import names from the module that defines them.
"""
