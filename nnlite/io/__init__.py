"""Files: model files that cannot run code (``saving``: ``save_model``/``load_model`` over the
``archive`` container of JSON + ``.npy`` members), crash-safe writes (``files``) and the IDX
reader of MNIST (``idx``).  Public paths: ``nnlite.saving``, ``nnlite.archive``."""
