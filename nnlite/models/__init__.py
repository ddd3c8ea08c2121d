"""Models: ``Sequential`` (a stack of layers) and ``Model`` (a graph), sharing one API defined in
``base``; ``model_from_json`` reads the architecture ``model.to_json()`` writes."""
from .base import BaseModel
from .graph import Input, Model
from .sequential import Sequential
from .serialization import model_from_config, model_from_json

__all__ = ["BaseModel", "Sequential", "Model", "Input", "model_from_config", "model_from_json"]
