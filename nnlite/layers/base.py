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
* Masks (sequences): a mask is a boolean ``(batch, time)`` array, True = a real step.  A layer
  with ``supports_masking = True`` takes ``forward(x, training=False, mask=None)`` (a list of
  masks for a multi-input layer); ``compute_mask(inputs, mask)`` gives the mask of its output.
  The models thread masks from layer to layer (see ``nnlite.models.masks``).
"""
from __future__ import annotations

import re

import numpy as np

from ..errors import ConfigError, NotBuiltError, ShapeError

__all__ = ["Layer"]


def _snake(name: str) -> str:
    # Keras's rule: split lower-to-upper case changes only (ReLU -> re_lu, Conv2D -> conv2d)
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "_", name).lower()


class Layer:
    """Base class: hyper-parameters in ``__init__``, weights in ``build``, math in forward/backward."""

    def __init__(self, name: str | None = None, input_shape=None, input_dim: int | None = None):
        if name is not None and (not isinstance(name, str) or not name or "/" in name):
            raise ConfigError(f"{type(self).__name__}: name must be a non-empty str without '/', "
                              f"got {name!r}")
        if input_dim is not None:
            if input_shape is not None:
                raise ConfigError(f"{type(self).__name__}: give input_shape or input_dim, not both")
            input_shape = (input_dim,)
        if input_shape is not None:
            input_shape = _as_shape(input_shape, f"{type(self).__name__}: input_shape")
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
        from .. import initializers

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

    # ------------------------------------------------------------------ masks
    #: True for layers whose ``forward`` consumes a mask: ``forward(x, training, mask=None)``,
    #: the mask a boolean ``(batch, time)`` array (True = a real step) or None; multi-input
    #: layers get a list of masks (None entries allowed).  Such a layer keeps what it needs of
    #: the mask for ``backward`` (the model passes nothing to ``backward``).
    supports_masking = False

    def compute_mask(self, inputs, mask=None):
        """The mask of this layer's output for ``inputs`` carrying ``mask`` (both as given to
        ``forward``).  Default: the mask passes through unchanged when the output keeps the
        (batch, time) leading axes — same rank as the input and the same time length — and is
        dropped (None) otherwise; a multi-input layer combines its inputs' masks with AND.
        Layers that create masks (``Masking``, ``Embedding(mask_zero=True)``) or drop them
        override this."""
        if mask is None:
            return None
        if not self.multi_input:
            return mask if _keeps_time(self.input_shape, self.output_shape) else None
        present = [(shape, m) for shape, m in zip(self.input_shape, mask) if m is not None]
        if not present or not all(_keeps_time(shape, self.output_shape)
                                  for shape, _ in present):
            return None
        out = present[0][1]
        for _, m in present[1:]:
            out = out & m
        return out

    def __call__(self, inputs):
        """Symbolic call for the graph API: ``h = Dense(8)(x)`` on a node from ``nnlite.Input``
        (or a list of nodes for a merge) records an edge and returns the new node; nothing is
        computed.  Use ``model.predict`` for numbers."""
        from ..models.graph_build import call_layer  # graphs sit on top of layers
        return call_layer(self, inputs)

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict:
        """Constructor arguments that rebuild this layer (weights excluded)."""
        config = {"name": self.name}
        if self.input_shape is not None:
            config["input_shape"] = list(self.input_shape)
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Layer":
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items()
                         if k not in ("name", "input_shape"))
        return f"{type(self).__name__}({args})"


def _keeps_time(input_shape, output_shape) -> bool:
    """Whether an output of ``output_shape`` still has the input's time axis first."""
    return (input_shape is not None and output_shape is not None
            and len(output_shape) == len(input_shape) >= 1
            and output_shape[0] == input_shape[0])


def _as_shape(value, what: str) -> tuple:
    if isinstance(value, (int, np.integer)):
        value = (value,)
    try:
        shape = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a tuple of positive ints, got {value!r}") from None
    if not shape or any(v <= 0 for v in shape):
        raise ConfigError(f"{what} must be a tuple of positive ints, got {value!r}")
    return shape
