"""Build a Keras model from the layer list in params.yaml: the one model definition.

An architecture is a list of {LayerType: {argument: value}}; the softmax output
layer is appended here, sized by the number of classes in the data.
"""
import inspect

import keras

from pipeline.errors import PipelineError

# The layer types an architecture may use: plain Keras layers, nothing custom.
LAYER_TYPES = ("Conv2D", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D",
               "Flatten", "Dropout", "Dense", "BatchNormalization", "Activation")

OPTIMIZERS = {"nadam": keras.optimizers.Nadam, "adam": keras.optimizers.Adam,
              "sgd": keras.optimizers.SGD, "adadelta": keras.optimizers.Adadelta}


def _allowed_arguments(layer_class):
    parameters = inspect.signature(layer_class.__init__).parameters
    return sorted(name for name, parameter in parameters.items()
                  if name != "self" and parameter.kind is not parameter.VAR_KEYWORD)


def make_layer(spec, where):
    """One Keras layer from {LayerType: {argument: value}}; `where` names it in errors."""
    (layer_type, arguments), = spec.items()
    arguments = arguments or {}
    if layer_type not in LAYER_TYPES:
        raise PipelineError(f"{where}: unknown layer type {layer_type!r}; allowed: {', '.join(LAYER_TYPES)}")
    layer_class = getattr(keras.layers, layer_type)
    allowed = _allowed_arguments(layer_class)
    for name in arguments:
        if name not in allowed:
            raise PipelineError(f"{where}: {layer_type} has no argument {name!r}; allowed: {', '.join(allowed)}")
    try:
        return layer_class(**arguments)
    except (ValueError, TypeError) as error:
        raise PipelineError(f"{where}: {layer_type}({arguments}): {error}") from None


def build_model(architecture, input_shape, num_classes, name="model"):
    """A Sequential model: the architecture's layers, then Dense(num_classes, softmax)."""
    if num_classes < 2:
        raise PipelineError(f"the data has {num_classes} class(es); a classifier needs at least 2")
    layers = [make_layer(spec, f"architectures.{name}[{index}]") for index, spec in enumerate(architecture)]
    try:  # Sequential builds every layer here, on the input shape
        return keras.Sequential([keras.Input(shape=input_shape), *layers,
                                 # float32 output: softmax and loss stay exact under mixed precision
                                 keras.layers.Dense(num_classes, activation="softmax", dtype="float32")],
                                name=name)
    except ValueError as error:
        reason = str(error).splitlines()[0]
        raise PipelineError(f"architectures.{name}: does not fit input {input_shape}: {reason}") from None


def compile_model(model, optimizer, learning_rate):
    """Categorical cross-entropy on integer labels, accuracy as the metric."""
    model.compile(optimizer=OPTIMIZERS[optimizer](learning_rate=learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
