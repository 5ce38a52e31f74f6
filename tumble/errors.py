"""Errors tumble raises for input it cannot use."""


class ModelError(ValueError):
    """A model file or builder call that tumble cannot load; the message names
    the element and the feature, and says what to do."""


class UnsupportedError(ModelError):
    """The model uses a feature tumble does not support (yet)."""
