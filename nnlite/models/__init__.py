"""Models: ``Sequential`` (a stack of layers) sharing one API defined in ``base``."""
from .base import BaseModel
from .graph import Input, Model
from .sequential import Sequential

__all__ = ["BaseModel", "Sequential", "Model", "Input"]
