"""scikit-learn estimators wrapping an nnlite ``Sequential`` MLP: ``NNClassifier`` and
``NNRegressor``.

They follow scikit-learn's contract (``check_estimator`` passes), so they work in ``Pipeline``,
``GridSearchCV`` and ``cross_val_score``:

>>> from sklearn.pipeline import make_pipeline
>>> from sklearn.preprocessing import StandardScaler
>>> clf = make_pipeline(StandardScaler(), NNClassifier(hidden_layer_sizes=(16,), epochs=50,
...                                                    random_state=0))

The network is ``Dense(h, activation)`` for each ``h`` in ``hidden_layer_sizes``, then the head:
one sigmoid unit with binary cross-entropy (2 classes), softmax with sparse categorical
cross-entropy (more classes) or linear units with squared error (regression).  ``alpha`` is an
L2 penalty on every kernel (``alpha · Σ W²``, Keras' form).  ``fit`` trains a fresh network for
``epochs`` epochs; ``partial_fit`` runs one more epoch on the data given.  After fitting:
``model_`` (the nnlite model), ``loss_curve_`` (training loss per epoch, like MLPClassifier's),
``n_iter_`` (epochs run), ``classes_`` (classifier), ``n_features_in_``.

Pickling an estimator stores its network in nnlite's own file format (bytes), never by pickling
nnlite objects.
"""
from __future__ import annotations

import functools
import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .. import optimizers
from ..io.saving import load_model, model_to_bytes
from ..layers import Dense
from ..math.regularizers import L2
from ..models import Sequential

__all__ = ["NNClassifier", "NNRegressor"]


def _unchanged_on_error(method):
    """A failing fit/partial_fit leaves the estimator as it was: validation sets attributes
    (``n_features_in_``, ``classes_``) before later checks can fail, so restore them.  (The
    network itself is never half-updated: ``Model.fit`` checks everything before training.)"""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        saved = dict(self.__dict__)
        try:
            return method(self, *args, **kwargs)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise
    return wrapper


class _NNEstimator(BaseEstimator):
    """Shared parameters, network construction, training and pickling."""

    def __init__(self, hidden_layer_sizes=(32,), activation="relu", optimizer="adam",
                 learning_rate=0.01, epochs=100, batch_size=32, alpha=0.0, shuffle=True,
                 random_state=None, verbose=0):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.alpha = alpha
        self.shuffle = shuffle
        self.random_state = random_state
        self.verbose = verbose

    # -------------------------------------------------------------- construction
    def _seed(self):
        rs = self.random_state
        if rs is None or (isinstance(rs, numbers.Integral) and not isinstance(rs, bool)):
            return None if rs is None else int(rs)
        return int(check_random_state(rs).randint(np.iinfo(np.int32).max))

    def _check_params(self):
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, numbers.Integral) else list(sizes)
        if not all(isinstance(h, numbers.Integral) and h > 0 for h in sizes):
            raise ValueError(f"hidden_layer_sizes must be positive ints, got "
                             f"{self.hidden_layer_sizes!r}")
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not isinstance(self.alpha, numbers.Real) or not self.alpha >= 0:
            raise ValueError(f"alpha must be a number >= 0, got {self.alpha!r}")
        return [int(h) for h in sizes]

    def _make_optimizer(self):
        opt = self.optimizer
        if isinstance(opt, optimizers.Optimizer):  # a fresh copy: the parameter stays unchanged
            return optimizers.from_config(type(opt).__name__, opt.get_config())
        return type(optimizers.get(opt))(learning_rate=self.learning_rate)

    def _new_model(self, n_features, n_outputs, head, loss):
        sizes = self._check_params()
        reg = L2(float(self.alpha)) if self.alpha else None
        widths = [*sizes, n_outputs]
        activations = [self.activation] * len(sizes) + [head]
        layers = [Dense(w, activation=a, kernel_regularizer=reg,
                        **({"input_dim": n_features} if i == 0 else {}))
                  for i, (w, a) in enumerate(zip(widths, activations))]
        model = Sequential(layers, seed=self._seed(), dtype="float64")
        model.compile(self._make_optimizer(), loss)
        self.model_ = model
        self.loss_curve_ = []
        self.n_iter_ = 0

    def _train(self, X, y, epochs):
        batch = min(int(self.batch_size), X.shape[0])
        history = self.model_.fit(X, y, epochs=epochs, batch_size=batch, shuffle=self.shuffle,
                                  verbose=2 if self.verbose else 0)
        self.loss_curve_.extend(history.history.get("loss", []))
        self.n_iter_ += len(history.epoch)
        return self

    # -------------------------------------------------------------- pickling
    def __getstate__(self):
        state = self.__dict__.copy()
        if "model_" in state:
            state["model_"] = model_to_bytes(self.model_)
        return state

    def __setstate__(self, state):
        if isinstance(state.get("model_"), bytes):
            state = {**state, "model_": load_model(state["model_"])}
        self.__dict__.update(state)


class NNClassifier(ClassifierMixin, _NNEstimator):
    """A multi-layer perceptron classifier trained with nnlite (see the module docstring).

    Parameters: ``hidden_layer_sizes`` (tuple of ints), ``activation`` (any nnlite activation
    name), ``optimizer`` (name or nnlite Optimizer), ``learning_rate``, ``epochs``,
    ``batch_size``, ``alpha`` (L2), ``shuffle``, ``random_state``, ``verbose``."""

    @_unchanged_on_error
    def fit(self, X, y):
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        self._new_model_for_classes(X.shape[1])
        return self._train(X, encoded, self.epochs)

    def _new_model_for_classes(self, n_features):
        k = len(self.classes_)
        if k < 2:
            raise ValueError(f"NNClassifier needs at least 2 classes in y, got only one class: "
                             f"{self.classes_.tolist()}")
        if k == 2:
            self._new_model(n_features, 1, "sigmoid", "binary_crossentropy")
        else:
            self._new_model(n_features, k, "softmax", "sparse_categorical_crossentropy")

    @_unchanged_on_error
    def partial_fit(self, X, y, classes=None):
        """One epoch on (X, y).  The first call (on an unfitted estimator) needs ``classes``,
        every class that will ever appear."""
        first = not hasattr(self, "model_")
        X, y = validate_data(self, X, y, dtype=np.float64, reset=first)
        check_classification_targets(y)
        if first:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit")
            self.classes_ = np.unique(classes)
            self._new_model_for_classes(X.shape[1])
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(f"classes {np.unique(classes).tolist()} differ from those of the "
                             f"first call {self.classes_.tolist()}")
        unknown = np.setdiff1d(y, self.classes_)
        if unknown.size:
            raise ValueError(f"y contains labels not in classes_: {unknown.tolist()}")
        return self._train(X, np.searchsorted(self.classes_, y), 1)

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), columns in ``classes_`` order."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        out = self.model_.predict(X)
        if len(self.classes_) == 2:
            return np.hstack([1.0 - out, out])
        return out

    def predict_log_proba(self, X):
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


class NNRegressor(RegressorMixin, _NNEstimator):
    """A multi-layer perceptron regressor trained with nnlite (squared error; y may have
    several columns).  Parameters as ``NNClassifier``."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _targets(self, y, first):
        y = np.asarray(y, dtype=np.float64)
        if first:
            self._y_1d = y.ndim == 1
        return y.reshape(y.shape[0], -1)

    @_unchanged_on_error
    def fit(self, X, y):
        X, y = validate_data(self, X, y, dtype=np.float64, multi_output=True, y_numeric=True)
        y = self._targets(y, True)
        self._new_model(X.shape[1], y.shape[1], None, "mse")
        return self._train(X, y, self.epochs)

    @_unchanged_on_error
    def partial_fit(self, X, y):
        """One epoch on (X, y), starting a network on the first call."""
        first = not hasattr(self, "model_")
        X, y = validate_data(self, X, y, dtype=np.float64, multi_output=True, y_numeric=True,
                             reset=first)
        y = self._targets(y, first)
        if first:
            self._new_model(X.shape[1], y.shape[1], None, "mse")
        return self._train(X, y, 1)

    def predict(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        out = self.model_.predict(X)
        return out[:, 0] if self._y_1d else out
