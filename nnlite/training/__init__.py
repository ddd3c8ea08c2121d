"""The training loop behind ``Model.fit`` and the callback machinery it runs.

    Trainer, resolve_batch_size                      ``loop``: batching, shuffling, Ctrl-C
    Callback, CallbackList, History, ProgressBar     ``callbacks``

This floor sits *below* the models: the loop drives any object with nnlite's model protocol
(``_train_step``, ``_evaluate_checked``, ...) and imports no model.  The callbacks users add
(EarlyStopping, monitors, ...) are in ``nnlite.callbacks``, above the models.
"""
from .callbacks import Callback, CallbackList, History, ProgressBar
from .loop import Trainer, resolve_batch_size

__all__ = ["Trainer", "resolve_batch_size", "Callback", "CallbackList", "History", "ProgressBar"]
