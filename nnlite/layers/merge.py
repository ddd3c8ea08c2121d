"""Merge layers: several inputs, one output (the graph API's ``Add()([a, b])``).

Multi-input contract (``multi_input = True``): ``build`` receives a list of input shapes,
``forward(xs, training)`` a list of arrays ``(batch, *shape_i)``, and ``backward(dy)`` returns a
list with one ``dx_i`` per input.  A returned ``dx_i`` may be ``dy`` itself or shared between
inputs, so callers must not modify it in place (the graph model adds, never ``+=``, into it).

    Add          y = Σ_i x_i                dx_i = dy
    Subtract     y = x_0 - x_1              dx_0 = dy, dx_1 = -dy
    Multiply     y = Π_i x_i                dx_i = dy ⊙ Π_{j≠i} x_j
    Concatenate  y = [x_0, x_1, ...] along ``axis``    dx_i = the slice of dy that x_i filled
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError, ShapeError
from .base import Layer

__all__ = ["Merge", "Add", "Subtract", "Multiply", "Concatenate"]


class Merge(Layer):
    """Base of the elementwise merges: inputs of one shape, output of that shape."""

    multi_input = True
    arity = None  # exact number of inputs, or None for "two or more"

    def __init__(self, **kwargs):
        if kwargs.get("input_shape") is not None or kwargs.get("input_dim") is not None:
            raise ConfigError(f"{type(self).__name__}: a merge takes its input shapes from the "
                              "graph; do not give input_shape/input_dim")
        kwargs.pop("input_shape", None)
        kwargs.pop("input_dim", None)
        super().__init__(**kwargs)
        self._xs = None

    def _check_count(self, shapes):
        what = f"{type(self).__name__} {self.name or self.default_name!r}"
        if not isinstance(shapes, (list, tuple)) or not shapes \
                or not isinstance(shapes[0], (list, tuple)):
            raise ShapeError(f"{what} needs a list of input shapes, got {shapes!r}")
        n = len(shapes)
        if (self.arity is not None and n != self.arity) or n < 2:
            want = self.arity if self.arity is not None else "at least 2"
            raise ShapeError(f"{what} needs {want} inputs, got {n}")
        return what

    def compute_output_shape(self, input_shape):
        what = self._check_count(input_shape)
        shapes = [tuple(s) for s in input_shape]
        for s in shapes[1:]:
            if s != shapes[0]:
                raise ShapeError(f"{what} needs inputs of one shape, got "
                                 + " and ".join(f"(batch, {', '.join(map(str, t))})"
                                                for t in shapes))
        return shapes[0]

    def build(self, input_shape, rng, dtype):
        shapes = [tuple(s) for s in input_shape]
        self.output_shape = self.compute_output_shape(shapes)
        self.input_shape = shapes
        self.dtype = np.dtype(dtype)
        self.built = True

    def get_config(self):
        return {"name": self.name}

    def release_buffers(self):
        super().release_buffers()
        self._xs = None


class Add(Merge):
    """y = x_0 + x_1 + ...; the skip connection of the lecture (``z + f(z)``).  Inputs of one
    shape (batch, ...), output of that shape; dL/dx_k = dL/dy."""

    def forward(self, xs, training=False):
        y = np.add(xs[0], xs[1], out=self._buffer("y", xs[0].shape) if training else None)
        for x in xs[2:]:
            y += x
        return y

    def backward(self, dy, input_grad=True):
        return [dy] * len(self.input_shape)


class Subtract(Merge):
    """y = x_0 - x_1 (exactly two inputs of one shape (batch, ...)); dL/dx_0 = dy,
    dL/dx_1 = -dy."""

    arity = 2

    def forward(self, xs, training=False):
        return np.subtract(xs[0], xs[1], out=self._buffer("y", xs[0].shape) if training else None)

    def backward(self, dy, input_grad=True):
        return [dy, np.negative(dy, out=self._buffer("dx1", dy.shape))]


class Multiply(Merge):
    """y = x_0 ⊙ x_1 ⊙ ... (elementwise, inputs of one shape (batch, ...)); keeps the inputs
    for the backward pass: dL/dx_k = dy ⊙ Π_{j≠k} x_j."""

    def forward(self, xs, training=False):
        y = np.multiply(xs[0], xs[1], out=self._buffer("y", xs[0].shape) if training else None)
        for x in xs[2:]:
            y *= x
        if training:
            self._xs = list(xs)
        return y

    def backward(self, dy, input_grad=True):
        xs = self._xs
        out = []
        for i in range(len(xs)):
            d = dy.copy()
            for j, x in enumerate(xs):
                if j != i:
                    d *= x
            out.append(d)
        return out


class Concatenate(Merge):
    """``Concatenate(axis=-1)``: y = [x_0, x_1, ...] joined along ``axis`` (not the batch
    axis); the other axes must agree: (batch, ..., d_k) → (batch, ..., Σ_k d_k) for axis=-1.
    Backward splits dy back into the inputs' pieces."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or axis == 0:
            raise ConfigError(f"Concatenate: axis must be a non-zero int (axis 0 is the batch), "
                              f"got {axis!r}")
        self.axis = int(axis)
        self._sizes = None

    def _feature_axis(self, rank, what):
        """The axis among the feature axes (batch excluded) for inputs of ``rank`` features."""
        axis = self.axis - 1 if self.axis > 0 else rank + self.axis
        if not 0 <= axis < rank:
            raise ShapeError(f"{what}: axis {self.axis} is out of range for inputs of shape "
                             f"(batch, {rank} feature axes)")
        return axis

    def compute_output_shape(self, input_shape):
        what = self._check_count(input_shape)
        shapes = [tuple(s) for s in input_shape]
        if len({len(s) for s in shapes}) != 1:
            raise ShapeError(f"{what} needs inputs of one rank, got "
                             + " and ".join(map(str, shapes)))
        axis = self._feature_axis(len(shapes[0]), what)
        rest = [s[:axis] + s[axis + 1:] for s in shapes]
        if any(r != rest[0] for r in rest):
            raise ShapeError(f"{what} needs inputs equal except along axis {self.axis}, got "
                             + " and ".join(f"(batch, {', '.join(map(str, s))})" for s in shapes))
        size = sum(s[axis] for s in shapes)
        return shapes[0][:axis] + (size,) + shapes[0][axis + 1:]

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        axis = self._feature_axis(len(self.input_shape[0]), type(self).__name__)
        self._sizes = np.cumsum([s[axis] for s in self.input_shape])[:-1]

    def forward(self, xs, training=False):
        shape = (xs[0].shape[0],) + self.output_shape
        return np.concatenate(xs, axis=self.axis,
                              out=self._buffer("y", shape) if training else None)

    def backward(self, dy, input_grad=True):
        # views of dy; the graph adds them into fresh arrays, never in place
        return np.split(dy, self._sizes, axis=self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
