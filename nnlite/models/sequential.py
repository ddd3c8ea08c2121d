"""``Sequential``: a plain stack of layers, each feeding the next."""
from __future__ import annotations

from ..errors import ConfigError
from ..layers.base import Layer
from ..layers.registry import layer_from_spec
from . import masks
from .base import BaseModel, limit_allocation
from .checks import check_token_ids
from .sequence_head import wrap_sequence_head

__all__ = ["Sequential"]


class Sequential(BaseModel):
    """A linear stack of layers with the Keras API.

    >>> import nnlite
    >>> model = nnlite.Sequential([nnlite.layers.Dense(8, activation="relu", input_dim=4),
    ...                            nnlite.layers.Dense(3, activation="softmax")], seed=0)
    >>> model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    >>> model.count_params()
    67

    ``seed`` fixes the weights (and, unless ``fit(seed=...)`` is given, the batch order);
    ``dtype`` is ``"float32"`` (default, fast) or ``"float64"`` (teaching, gradient checks).
    """

    _masks = False  # True when a layer creates a mask (decided at build, see models.masks)

    def __init__(self, layers=None, name=None, seed=None, dtype="float32"):
        super().__init__(name=name, seed=seed, dtype=dtype)
        self.layers: list[Layer] = []
        for layer in layers or []:
            self.add(layer)

    def add(self, layer: Layer) -> None:
        """Append a layer.  On a built model the layers already there keep their weights (the
        new one is built when the model next needs its weights), e.g. a new head after
        ``pop()``; the optimizer's state starts afresh."""
        if not isinstance(layer, Layer):
            raise ConfigError(f"Sequential.add expects a Layer, got {type(layer).__name__}")
        if any(layer is other for other in self.layers):
            raise ConfigError(f"Sequential.add: this {type(layer).__name__} is already in the "
                              "model (reusing a layer object would share its weights)")
        if layer.input_shape is not None and self.layers:
            raise ConfigError(f"Sequential.add: only the first layer takes input_shape/input_dim "
                              f"({type(layer).__name__} got {layer.input_shape})")
        self._assign_name(layer)
        self.layers.append(layer)
        self.built = False
        if self.loss is not None:
            self._configure_head()

    def pop(self) -> Layer:
        """Remove and return the last layer (Keras' ``pop``); the other layers keep their
        weights, the optimizer's state starts afresh."""
        if not self.layers:
            raise ConfigError(f"Sequential.pop: model {self.name!r} has no layers")
        layer = self.layers.pop()
        was_built, self.built = self.built, False
        if was_built and self.layers:
            self.build()
        elif not self.layers:
            self._flat_params = self._flat_grads = None
        if self.loss is not None and self.layers:
            self._configure_head()
        return layer

    def _assign_name(self, layer):
        taken = {l.name for l in self.layers}
        if layer.name is not None:
            if layer.name in taken:
                raise ConfigError(f"Sequential.add: layer name {layer.name!r} is already used")
            return
        base = layer.default_name
        name, i = base, 0
        while name in taken:
            i += 1
            name = f"{base}_{i}"
        layer.name = name

    @property
    def input_shape(self):
        return self.layers[0].input_shape if self.layers else None

    @property
    def output_shape(self):
        return self.layers[-1].output_shape if self.layers else None

    @property
    def _head(self):
        return self.layers[-1] if self.layers else None

    def output_shape_for(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.layers:
            shape = layer.compute_output_shape(shape)
        return shape

    def _build_layers(self, input_shape, rng):
        if not self.layers:
            raise ConfigError(f"model {self.name!r} has no layers")
        masks.refuse_multi_output(self.layers)
        shape = input_shape
        for layer in self.layers:
            if not (layer.built and layer.input_shape == shape):  # kept after pop/add
                layer.build(shape, rng, self.dtype)
            shape = layer.output_shape
        self._masks = masks.plan(self)

    def _configure_head(self):
        super()._configure_head()
        wrap_sequence_head(self)

    def _check_x(self, x, what="x"):
        x = super()._check_x(x, what)
        check_token_ids(self.layers[:1], x)
        return x

    def _forward(self, x, training, logits):
        if self._masks:
            return masks.stack_forward(self, x, training, logits)
        layers = self.layers
        last = len(layers) - 1
        for i in range(last):  # no slice: nothing allocated per step
            x = layers[i].forward(x, training)
        if logits:
            return layers[last].forward(x, training, logits=True)
        return layers[last].forward(x, training)

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict:
        """``{"class_name": "Sequential", "config": {"name", "dtype", "layers": [spec, ...]}}``
        with each layer as ``{"class_name": type(layer).__name__,
        "config": layer.get_config()}``."""
        layers = []
        for i, layer in enumerate(self.layers):
            config = layer.get_config()
            if i:  # build() records every layer's input shape; only the first one takes it
                config.pop("input_shape", None)
            layers.append({"class_name": type(layer).__name__, "config": config})
        return {"class_name": "Sequential",
                "config": {"name": self.name, "dtype": self.dtype.name, "layers": layers}}

    @classmethod
    def from_config(cls, spec, seed=None, custom_objects=None,
                    max_weight_bytes=None) -> Sequential:
        """Rebuild from ``get_config()``: only classes of ``nnlite.layers.REGISTRY`` (and those
        the caller passes in ``custom_objects``, by class name) are instantiated.
        ``max_weight_bytes`` caps what building the model may allocate (see ``add_weight``)."""
        config = spec["config"] if "class_name" in spec else spec
        layers = [layer_from_spec(entry, custom_objects) for entry in config["layers"]]
        limit_allocation(layers, max_weight_bytes)
        return cls(layers, name=config.get("name"), seed=seed,
                   dtype=config.get("dtype", "float32"))

    def _backward(self, dy, input_grad=True):
        layers = self.layers
        for i in range(len(layers) - 1, 0, -1):
            dy = layers[i].backward(dy)
        return layers[0].backward(dy, input_grad)
