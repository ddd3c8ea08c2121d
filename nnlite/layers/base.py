"""The one base class of every layer.

Contract (see DESIGN.md):

* ``build(input_shape, rng, dtype)`` creates the parameters; ``input_shape`` excludes the batch.
* ``forward(x, training=False)`` returns the output; in training mode it keeps only what
  ``backward`` needs; at inference it keeps nothing.
* ``backward(dy, input_grad=True)`` returns ``dL/dx`` (or ``None`` when ``input_grad`` is False,
  which saves the work for a network's first layer) and *overwrites* the layer's parameter
  gradients in ``self.grads``.  Summing gradients where a value fans out is the graph's job.
* ``params`` and ``grads`` are dicts with the same keys; a model may re-point them at views of one
  flat buffer, so layers write gradients in place (``out=``) and never re-bind the dict entries.
* ``state`` holds non-trainable arrays saved with the model (e.g. running statistics).
* ``trainable`` (Keras): False freezes the layer — the model's optimizer leaves its parameters
  (and their optimizer state) alone, ``summary`` counts them as non-trainable, and a frozen
  BatchNormalization runs in inference mode.  Setting it on a container (Residual, ...) sets it
  on every layer inside.
* Masks (sequences): a mask is a boolean ``(batch, time)`` array, True = a real step.  A layer
  with ``supports_masking = True`` takes ``forward(x, training=False, mask=None)`` (a list of
  masks for a multi-input layer); ``compute_mask(inputs, mask)`` gives the mask of its output.
  The models thread masks from layer to layer (see ``nnlite.models.masks``).
"""
from __future__ import annotations

import re

import numpy as np

from ..errors import ConfigError, InputValueError, NotBuiltError, ShapeError
from ..math import initializers
from .nodes import as_shape, call_layer

__all__ = ["Layer"]


def _snake(name: str) -> str:
    # Keras's rule: split lower-to-upper case changes only (ReLU -> re_lu, Conv2D -> conv2d)
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "_", name).lower()


class Layer:
    """Base class: hyper-parameters in ``__init__``, weights in ``build``, math in
    forward/backward."""

    def __init__(self, name: str | None = None, input_shape=None, input_dim: int | None = None,
                 trainable: bool = True):
        bool_flag(trainable, f"{type(self).__name__}: trainable")
        if name is not None and (not isinstance(name, str) or not name or "/" in name):
            raise ConfigError(f"{type(self).__name__}: name must be a non-empty str without '/', "
                              f"got {name!r}")
        if input_dim is not None:
            if input_shape is not None:
                raise ConfigError(f"{type(self).__name__}: give input_shape or input_dim, not both")
            input_shape = (input_dim,)
        if input_shape is not None:
            input_shape = as_shape(input_shape, f"{type(self).__name__}: input_shape")
        self.name = name
        self.input_shape = input_shape
        self.output_shape = None
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.state: dict[str, np.ndarray] = {}
        self.built = False
        self.dtype = None
        self._buffers: dict[str, np.ndarray] = {}
        self.allocation_budget = None  # see add_weight
        self._trainable = True
        if not trainable:
            self.trainable = False  # a container freezes what it holds

    @property
    def trainable(self) -> bool:
        """Whether training updates this layer's parameters (Keras' ``layer.trainable``)."""
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool_flag(value, f"layer {self.name!r}: trainable")
        for inner in getattr(self, "sublayers", None) or ():
            inner.trainable = self._trainable

    # ------------------------------------------------------------------ building
    @property
    def default_name(self) -> str:
        return _snake(type(self).__name__)

    def build(self, input_shape, rng: np.random.Generator, dtype) -> None:
        """Create parameters for inputs of shape ``(batch, *input_shape)``."""
        self.input_shape = tuple(input_shape)
        self.dtype = np.dtype(dtype)
        self.output_shape = self.compute_output_shape(self.input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        """Output shape (without batch) for an input shape (without batch); default: unchanged."""
        return tuple(input_shape)

    def add_weight(self, name: str, shape, initializer="zeros", fan_in=None, fan_out=None,
                   rng=None, trainable: bool = True) -> np.ndarray:
        """Create a weight of ``shape`` in the layer's dtype, the one place layers allocate them.

        Trainable weights go to ``params`` (with a zero gradient beside them in ``grads``),
        others to ``state``.  ``initializer`` is a name or ``init(shape, fan_in, fan_out, rng,
        dtype)``.  A model may cap the bytes one build allocates (``allocation_budget``, a
        one-element list shared by its layers): loading a file uses it so that a config cannot
        ask for more weights than the file holds.
        """
        shape = tuple(int(d) for d in shape)
        size = 1
        for d in shape:
            size *= d
        budget = self.allocation_budget
        if budget is not None:
            need = size * self.dtype.itemsize
            if need > budget[0]:
                raise ConfigError(f"layer {self.name!r}: weight {name!r} of shape {shape} needs "
                                  f"{need} bytes, more than the {budget[0]} bytes allowed")
            budget[0] -= need
        value = np.ascontiguousarray(initializers.get(initializer)(
            shape, fan_in if fan_in is not None else 1, fan_out if fan_out is not None else 1,
            rng, self.dtype), dtype=self.dtype)
        if trainable:
            self.params[name] = value
            self.grads[name] = np.zeros_like(value)
        else:
            self.state[name] = value
        return value

    def count_params(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    def get_weights(self) -> list:
        """Copies of the layer's parameters, then its state arrays (Keras' order of
        ``layer.weights``)."""
        return [a.copy() for a in (*self.params.values(), *self.state.values())]

    def set_weights(self, weights) -> None:
        """Copy ``weights`` (as ``get_weights`` returns them) into the layer in place; every
        shape is checked first, so a mismatch changes nothing."""
        if not self.built:
            raise NotBuiltError(f"layer {self.name!r} is not built; build the model first")
        targets = [(self.name, k, v) for k, v in (*self.params.items(), *self.state.items())]
        assign_checked(targets, weights, f"layer {self.name!r}: set_weights")

    # ------------------------------------------------------------------ computing
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dy: np.ndarray, input_grad: bool = True):
        raise NotImplementedError

    def _buffer(self, key: str, shape, dtype=None) -> np.ndarray:
        """A scratch array reused between training steps of the same batch shape."""
        buf = self._buffers.get(key)
        dtype = self.dtype if dtype is None else dtype
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = np.empty(shape, dtype=dtype)
            self._buffers[key] = buf
        return buf

    def release_buffers(self) -> None:
        """Drop scratch arrays and anything cached for backward (e.g. after training)."""
        self._buffers = {}

    def check_input(self, x: np.ndarray) -> None:
        """Raise ShapeError naming this layer when ``x`` does not fit the built input shape."""
        if not self.built:
            raise NotBuiltError(f"layer {self.name or self.default_name!r} is not built")
        if x.shape[1:] != self.input_shape:
            raise ShapeError(
                f"layer {self.name!r} ({type(self).__name__}) expects inputs of shape "
                f"(batch, {', '.join(map(str, self.input_shape))}), got {x.shape}"
            )

    # ------------------------------------------------------------------ graphs
    #: True for layers taking several inputs (merges): ``build`` gets a list of shapes,
    #: ``forward`` a list of arrays, and ``backward`` returns a list of ``dx`` (one per input).
    multi_input = False
    #: True for a layer whose (graph) call gives several outputs (MultiHeadAttention with
    #: ``return_attention_scores=True``): ``compute_output_shape`` returns a list of shapes,
    #: ``forward`` a tuple of arrays, and ``backward`` receives a list of upstream gradients
    #: (None for an output that gets none).  See ``nnlite.models.graph_build``.
    multi_output = False

    # ------------------------------------------------------------------ masks
    #: True for layers whose ``forward`` takes ``mask=None`` as a keyword
    #: (``forward(x, training=False, mask=None)``): a boolean (batch, time) array, True = a
    #: real step; multi-input layers get a list of masks (None entries allowed).
    supports_masking = False

    def compute_mask(self, inputs, mask=None):
        """The mask of this layer's output for ``inputs`` carrying ``mask`` (both as given to
        ``forward``; a list for a multi-input layer).  Default: the mask passes unchanged when
        the output keeps the (batch, time) leading axes — rank ≥ 2 and a first axis as long as
        the mask — and is dropped (None) otherwise; the masks of a multi-input layer's inputs
        are combined with AND.  Layers that create masks (``Masking``,
        ``Embedding(mask_zero=True)``) or drop the time axis override it."""
        if mask is None:
            return None
        out = self.output_shape
        if out is None or isinstance(out, list) or len(out) < 2:
            return None
        masks = [m for m in mask if m is not None] if isinstance(mask, (list, tuple)) \
            else [mask]
        if not masks or any(np.ndim(m) != 2 or np.shape(m)[1] != out[0] for m in masks):
            return None
        combined = masks[0]
        for m in masks[1:]:
            combined = combined & m
        return combined

    def __call__(self, inputs):
        """Symbolic call for the graph API: ``h = Dense(8)(x)`` on a node from ``nnlite.Input``
        (or a list of nodes for a merge) records an edge and returns the new node; nothing is
        computed.  Use ``model.predict`` for numbers."""
        return call_layer(self, inputs)

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict:
        """Constructor arguments that rebuild this layer (weights excluded)."""
        config = {"name": self.name}
        if self.input_shape is not None:
            config["input_shape"] = list(self.input_shape)
        if not self.trainable:
            config["trainable"] = False
        return config

    @classmethod
    def from_config(cls, config: dict) -> Layer:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items()
                         if k not in ("name", "input_shape", "trainable"))
        return f"{type(self).__name__}({args})"


def positive_int(value, what) -> int:
    """``value`` as an int if it is a positive integer (NumPy's too; not a bool), else
    ConfigError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ConfigError(f"{what} must be a positive int, got {value!r}")
    return int(value)


def bool_flag(value, what) -> bool:
    """``value`` if it is True or False (NumPy's bools too), else ConfigError naming ``what``."""
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"{what} must be True or False, got {value!r}")
    return bool(value)


def assign_checked(targets, weights, what) -> None:
    """Copy ``weights`` into ``targets`` — ``(layer name, key, array)`` triples — in place, after
    checking the count, every shape and every value, so a mismatch changes nothing."""
    weights = list(weights)
    if len(weights) != len(targets):
        raise ShapeError(f"{what}: expected {len(targets)} arrays "
                         f"({', '.join(k for _, k, _ in targets)}), got {len(weights)}")
    arrays = []
    for (lname, key, target), value in zip(targets, weights):
        value = np.asarray(value)
        if value.shape != target.shape:
            raise ShapeError(f"{what}: layer {lname!r} {key} expects shape {target.shape}, "
                             f"got {value.shape}")
        if value.dtype.kind not in "biuf" or not np.isfinite(value).all():
            raise InputValueError(f"{what}: layer {lname!r} {key} must be finite numbers")
        arrays.append(value)
    for (_, _, target), value in zip(targets, arrays):
        target[...] = value
