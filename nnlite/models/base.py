"""The API shared by ``Sequential`` and the graph ``Model``: compile, fit, evaluate, predict, ...

Subclasses provide the network: ``_build_layers(input_shape, rng)``, ``_forward(x, training,
logits)``, ``_backward(dy, input_grad)``, ``output_shape`` and ``_head`` (the last layer, whose
activation may be fused into the loss).  This class owns everything around it:

* parameters of all layers live in one flat buffer (and gradients in another); each layer's
  ``params``/``grads`` entries are views into them, so an optimizer step is a few NumPy calls;
* inputs are checked once per call (dtype, shape, NaN/inf) and converted to the model's dtype;
* a failing call changes nothing: building is undone if it raises, and checks run before any
  weight, optimizer state, random state or history changes.
"""
from __future__ import annotations

import numpy as np

from .. import losses as losses_mod
from .. import metrics as metrics_mod
from .. import optimizers as optimizers_mod
from ..errors import ConfigError, NotBuiltError, NotCompiledError
from ..math.activations import sigmoid, softmax
from ..training.loop import Trainer, resolve_batch_size
from . import fit_options
from .access import LayersAndWeights
from .checks import (
    check_array,
    check_callbacks,
    check_compile_order,
    check_targets,
    check_verbose,
    chunk_size,
    warn_ignored_from_logits,
)
from .services import service
from .summary import summary_text
from .weights import leaf_layers, limit_allocation, pack_parameters, trainable_segments

__all__ = ["BaseModel"]

def as_rng(seed) -> np.random.Generator:
    """A Generator from an int seed, a Generator (used as is) or None (fresh OS entropy)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool)
                        and seed >= 0):
        return np.random.default_rng(seed)
    raise ConfigError(f"seed must be a non-negative int, a numpy.random.Generator or None, "
                      f"got {seed!r}")


class BaseModel(LayersAndWeights):
    """Shared model API.  See ``Sequential`` and ``Model`` for construction; the accessors of
    layers and weights (``get_weights``, ``weights``, ``trainable``, ``get_layer``,
    ``to_json``, ``model(x)``) come from ``nnlite.models.access``."""

    def __init__(self, name=None, seed=None, dtype="float32"):
        try:
            self.dtype = np.dtype(dtype)
        except TypeError:
            raise ConfigError(f"dtype must be 'float32' or 'float64', got {dtype!r}") from None
        if self.dtype not in (np.float32, np.float64):
            raise ConfigError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
        self.name = name or type(self).__name__.lower()
        self.rng = as_rng(seed)
        # without a seed of its own, a model built by fit draws its weights from fit's seed
        self._seeded = seed is not None
        self._trainable = True
        self._segments = None     # trainable ranges of the flat buffer (None: all)
        self._loss_trackers = []  # per-output losses of a multi-output model
        self.built = False
        self.loss = self.optimizer = None
        self._train_loss = None
        self._fused = False
        self._metrics: list = []
        self._flat_params = self._flat_grads = None
        self.stop_training = False
        self.history = None

    # ------------------------------------------------------------------ building
    @property
    def input_shape(self):
        raise NotImplementedError

    def build(self, input_shape=None, rng=None):
        """Create every layer's weights for inputs of shape ``(batch, *input_shape)``, drawn
        from ``rng`` (default: the model's generator).  Layers already built keep theirs (a
        model grown with ``add`` after ``pop``)."""
        if self.built:
            return
        if input_shape is None:
            input_shape = self.input_shape
        if input_shape is None:
            raise NotBuiltError(f"model {self.name!r} does not know its input shape: give "
                                "input_shape=/input_dim= to the first layer or call fit() first")
        rng = self.rng if rng is None else rng
        state = rng.bit_generator.state
        kept = [layer for layer in self.layers if layer.built]
        repacked = self._flat_params is not None
        try:
            self._build_layers(tuple(input_shape), rng)
            self._flat_params, self._flat_grads = pack_parameters(self.layers, self.dtype)
        except Exception:
            rng.bit_generator.state = state
            self._unbuild(keep=kept)
            raise
        finally:
            limit_allocation(self.layers, None)
        self.built = True
        if repacked and self.optimizer is not None:
            self.optimizer.reset_state()  # its slots follow the old layout of the buffer
        if self.loss is not None:
            self._configure_head()

    def _unbuild(self, keep=()):
        for layer in self.layers:
            if any(layer is k for k in keep):
                continue
            layer.built = False
            layer.params, layer.grads, layer.state = {}, {}, {}

    def count_params(self) -> int:
        """Number of parameters (trainable and frozen; state arrays excluded)."""
        self._require_built("count_params")
        return int(self._flat_params.size)

    def _require_built(self, what):
        if not self.built:
            if self.input_shape is not None:
                self.build()
            else:
                raise NotBuiltError(
                    f"{what}: model {self.name!r} is not built; give input_shape=/input_dim= to "
                    "the first layer or call fit() first")

    # ------------------------------------------------------------------ compile
    def compile(self, optimizer="adam", loss=None, metrics=None, loss_weights=None):
        """Choose the optimizer (name or Optimizer), the loss (name or Loss) and metrics
        (e.g. ``["accuracy"]``), in Keras's order ``compile(optimizer, loss, metrics,
        loss_weights)``.  When the network ends in the activation the loss fuses with,
        training and evaluation run on logits (gradient ``p - y``)."""
        optimizer, loss = check_compile_order(optimizer, loss)
        if loss_weights is not None:
            raise ConfigError("compile: loss_weights needs a model with several outputs")
        loss = losses_mod.get(loss)
        optimizer = optimizers_mod.get(optimizer)
        metrics = list(metrics or [])
        for m in metrics:  # validate names now, build per head below
            if not isinstance(m, (str, metrics_mod.Metric)):
                raise ConfigError(f"compile: metrics must be names or Metric objects, got {m!r}")
        # a failing compile (e.g. an unknown metric name) leaves the previous setup in place
        saved = {k: getattr(self, k, None) for k in
                 ("loss", "optimizer", "_metric_specs", "_fused", "_train_loss", "_metrics")}
        self.loss, self.optimizer, self._metric_specs = loss, optimizer, metrics
        try:
            self._configure_head()
        except Exception:
            for key, value in saved.items():
                setattr(self, key, value)
            raise

    def _configure_head(self):
        head_activation = getattr(self._head, "activation", None)
        self._fused = (head_activation is not None
                       and head_activation.name in self.loss.fuses_with)
        if self._fused:
            warn_ignored_from_logits(self.loss, head_activation.name, self._head.name)
        self._train_loss = self.loss.with_logits() if self._fused else self.loss
        logits_out = self._fused or self._train_loss.from_logits
        threshold = 0.0 if logits_out else 0.5
        self._metrics = [metrics_mod.get(m, self.loss.task, threshold) for m in self._metric_specs]

    def _require_compiled(self, what):
        if self.loss is None:
            raise NotCompiledError(f"{what}: call model.compile(loss=..., optimizer=...) first")

    # ------------------------------------------------------------------ input checking
    def _check_x(self, x, what="x"):
        """x as a C-contiguous array of the model's dtype, after shape and value checks."""
        return self._check_array(x, what, self.input_shape)

    def _check_array(self, x, what, expected):
        return check_array(x, what, expected, self.dtype, self._first_layer_name(), self.name)

    def _check_xy(self, x, y):
        x = self._check_x(x)
        return x, check_targets(self, x, y)

    # ------------------------------------------------------------------ training
    def fit(self, x, y, epochs=1, batch_size=None, shuffle=True, validation_data=None, verbose=1,
            callbacks=None, seed=None, initial_epoch=0, validation_split=0.0, validation_freq=1,
            sample_weight=None, class_weight=None):
        """Train for ``epochs`` passes over (x, y); returns a ``History``.

        ``batch_size`` None uses the optimizer's regime (GD: all N, SGD: 1, MiniBatchSGD: k,
        others 32); ``seed`` (int or Generator) fixes the batch order, otherwise the model's own
        generator is used.  ``verbose``: 0 silent, 1 progress bar, 2 one line per epoch.
        ``initial_epoch``: the epoch to start at (to resume; ``epochs`` is the last epoch + 1).
        ``validation_split``, ``validation_freq``, ``sample_weight``, ``class_weight``: see
        ``nnlite.models.fit_options``.

        Ctrl-C stops training cleanly after the current batch: the model keeps the weights of
        the last completed step, the History holds every completed epoch (``history.interrupted``
        is True) and ``fit`` returns it without re-raising; a second Ctrl-C aborts at once
        (KeyboardInterrupt).
        """
        self._require_compiled("fit")
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ConfigError(f"fit: epochs must be a non-negative int, got {epochs!r}")
        if verbose not in (0, 1, 2):
            raise ConfigError(f"fit: verbose must be 0, 1 or 2, got {verbose!r}")
        if not isinstance(shuffle, (bool, np.bool_)):
            raise ConfigError(f"fit: shuffle must be True or False, got {shuffle!r}")
        callbacks = check_callbacks(callbacks)
        if isinstance(initial_epoch, bool) or not isinstance(initial_epoch, (int, np.integer)) \
                or initial_epoch < 0:
            raise ConfigError(f"fit: initial_epoch must be a non-negative int, got "
                              f"{initial_epoch!r}")
        x, y = self._check_xy(x, y)
        x, y, validation, weights, validation_freq = fit_options.prepare(
            self, x, y, validation_data, validation_split, sample_weight, class_weight,
            validation_freq)
        single = isinstance(x, np.ndarray)  # graph models with several inputs pass a list
        batch = resolve_batch_size(batch_size, self.optimizer, (x if single else x[0]).shape[0])
        rng = self.rng if seed is None else as_rng(seed)
        self.build(x.shape[1:] if single else None, rng=None if self._seeded else rng)
        self._segments = trainable_segments(self.layers)
        trainer = Trainer(self, callbacks or (), verbose)
        try:
            self.history = trainer.fit(x, y, epochs, batch, shuffle, rng, validation,
                                       initial_epoch, weights, validation_freq)
        finally:
            self._release_buffers()
        return self.history

    #: None or ``hook(model, loss)``, run after every backward pass before the gradients are
    #: checked, regularized or applied (nnlite.distributed sums them over processes there)
    _gradient_hook = None

    def _after_backward(self, loss):
        if self._gradient_hook is not None:
            self._gradient_hook(self, loss)

    def _train_step(self, xb, yb):
        out = self._forward(xb, True, self._fused)
        value = self._train_loss._forward(out, yb)
        self._backward(self._train_loss._backward(), False)
        self._after_backward(value)
        self.optimizer.step(self._flat_params, self._flat_grads, self._segments)
        for metric in self._metrics:
            metric.update(out, yb)
        return value

    def _make_train_step(self, weighted, check_finite):
        return fit_options.make_train_step(self, weighted, check_finite)

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None, return_dict=False):
        """One optimizer step on exactly this batch; returns its loss (and metrics)."""
        return fit_options.train_on_batch(self, x, y, sample_weight, class_weight, return_dict)

    def test_on_batch(self, x, y, sample_weight=None, return_dict=False):
        """Loss (and metrics) of this batch, model unchanged."""
        return fit_options.test_on_batch(self, x, y, sample_weight, return_dict)

    def predict_on_batch(self, x):
        """``predict`` of one batch, in one pass."""
        return self.predict(x, batch_size=len(x[0] if isinstance(x, list) else x))

    def _reset_metrics(self):
        for metric in (*self._loss_trackers, *self._metrics):
            metric.reset()

    def _metric_results(self):
        return {metric.name: float(metric.result())
                for metric in (*self._loss_trackers, *self._metrics)}

    def _release_buffers(self):
        for layer in leaf_layers(self.layers):
            layer.release_buffers()

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, x, y, batch_size=None, verbose=0, return_dict=False):
        """Loss (and metrics) on (x, y) without changing the model.  Returns the loss, or
        ``[loss, *metrics]`` when metrics were compiled, or a dict with ``return_dict=True``.
        ``verbose`` 1 or 2 also prints them on one line (0, the default, prints nothing)."""
        self._require_compiled("evaluate")
        self._require_built("evaluate")
        batch_size = chunk_size(batch_size, "evaluate")
        check_verbose(verbose, "evaluate")
        x, y = self._check_xy(x, y)
        logs = self._evaluate_checked(x, y, batch_size)
        if verbose:
            print(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
        if return_dict:
            return logs
        return logs["loss"] if len(logs) == 1 else list(logs.values())

    def _evaluate_checked(self, x, y, batch_size=None):
        n = x.shape[0]
        chunk = chunk_size(batch_size, "evaluate")
        self._reset_metrics()
        total = 0.0
        mean = self._train_loss.reduction == "mean"
        for start in range(0, n, chunk):
            xb, yb = x[start:start + chunk], y[start:start + chunk]
            out = self._forward(xb, False, self._fused)
            value = self._train_loss._forward(out, yb)
            total += value * xb.shape[0] if mean else value
            for metric in self._metrics:
                metric.update(out, yb)
        self._train_loss._cache = None
        logs = {"loss": total / n if mean else total}
        if self._has_regularizers:
            logs["loss"] += fit_options.penalty(self)
        logs.update(self._metric_results())
        return logs

    def predict(self, x, batch_size=None, verbose=0):
        """The last layer's output for ``x`` (probabilities if it ends in sigmoid/softmax).
        ``verbose`` is accepted for Keras code (0, 1, 2 or "auto"); predict prints nothing."""
        self._require_built("predict")
        chunk = chunk_size(batch_size, "predict")
        check_verbose(verbose, "predict")
        x = self._check_x(x)
        n = x.shape[0]
        if chunk >= n:
            return self._forward(x, False, False)
        out = None
        for start in range(0, n, chunk):
            part = self._forward(x[start:start + chunk], False, False)
            if out is None:
                out = np.empty((n,) + part.shape[1:], dtype=part.dtype)
            out[start:start + part.shape[0]] = part
        return out

    def predict_proba(self, x, batch_size=None):
        """Class probabilities through the loss's link: P(y=+1) (shape (n, 1)) for the logistic
        and binary losses, softmax rows for the categorical ones."""
        self._require_compiled("predict_proba")
        task = self.loss.task
        if task == "regression":
            raise ConfigError(f"predict_proba needs a classification loss, the model has "
                              f"{type(self.loss).__name__}")
        out = self.predict(x, batch_size)
        if self._fused or not self._train_loss.from_logits:
            return out
        return sigmoid(out) if task in ("pm1", "binary") else softmax(out)

    def predict_classes(self, x, batch_size=None):
        """Predicted labels, in the loss's label space: ±1 for LogisticLoss, {0, 1} for binary
        cross-entropy, class indices for the categorical losses.  Shape (n,)."""
        proba = self.predict_proba(x, batch_size)
        task = self.loss.task
        if task == "pm1":
            return np.where(proba[:, 0] > 0.5, 1, -1)
        if task == "binary":
            return (proba[:, 0] > 0.5).astype(np.int64)
        return np.argmax(proba, axis=-1)

    # ------------------------------------------------------------------ weights
    @property
    def _has_regularizers(self):
        return any(getattr(layer, f"{key}_regularizer", None) is not None
                   for layer in leaf_layers(self.layers) for key in layer.params)

    # ------------------------------------------------------------------ files
    def save(self, path) -> None:
        """Write architecture, compile settings, weights, optimizer state and random state to
        one file (see ``nnlite.saving``); ``nnlite.load_model(path)`` reads it back."""
        service("save_model")(self, path)

    def save_weights(self, path) -> None:
        """Write only the weights (see ``nnlite.saving``)."""
        service("save_weights")(self, path)

    def load_weights(self, path) -> None:
        """Read weights written by ``save_weights`` (or ``save``) into this built model."""
        service("load_weights")(self, path)

    def summary(self, print_fn=print) -> str:
        """Print (and return) a table of layers, output shapes and parameter counts."""
        if not self.built and self.input_shape is not None:
            self.build()
        text = summary_text(self)
        if print_fn is not None:
            print_fn(text)
        return text

    # ------------------------------------------------------------------ derivatives
    def input_gradient(self, x, output=None, unit=None, weights=None):
        """∂(Σ w ⊙ output)/∂x for a batch (saliency); see ``nnlite.grad.input_gradient``."""
        return service("input_gradient")(self, x, output=output, unit=unit, weights=weights)

    def gradients(self, x, y=None, output=None, unit=None, weights=None) -> dict:
        """{"layer/param": ∂L/∂θ} for targets ``y``, or of an output; see ``nnlite.grad``."""
        return service("gradients")(self, x, y, output=output, unit=unit, weights=weights)

    def _first_layer_name(self):
        return self.layers[0].name if self.layers else None
