"""Callbacks for ``fit``: hooks the training loop calls at the start and end of training, epochs
and batches (Keras' names and semantics).

    Callback, CallbackList, History, ProgressBar        the machinery (``nnlite.training``)
    TerminateOnNaN, CSVLogger, LambdaCallback           ``standard``
    EarlyStopping, ModelCheckpoint, ReduceLROnPlateau,  ``monitored``: they watch a logged value
    LearningRateScheduler
    GradientMonitor, ActivationMonitor                  ``monitors``: gradient norms, unit health
"""
from ..training.callbacks import Callback, CallbackList, History, ProgressBar
from .monitored import EarlyStopping, LearningRateScheduler, ModelCheckpoint, ReduceLROnPlateau
from .monitors import ActivationMonitor, GradientMonitor, GradientWarning
from .standard import CSVLogger, LambdaCallback, TerminateOnNaN

__all__ = ["Callback", "CallbackList", "History", "ProgressBar", "TerminateOnNaN", "CSVLogger",
           "LambdaCallback", "EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau",
           "LearningRateScheduler", "GradientMonitor", "ActivationMonitor", "GradientWarning"]
