"""Build a Keras model from the layer list in params.yaml: the one model definition.

An architecture is a list of {LayerType: {argument: value}}: plain Keras layers, plus
`ResNetV1` (study 002's residual stacks, built from `depth`) and an optional last
`Output` entry whose arguments go to the softmax output layer. That output layer, one
unit per class, is always appended here, sized by the number of classes in the data.
"""
import inspect

from pipeline.options import OPTIMIZERS
from pipeline.params import is_int
from pipeline.paths import ARCHITECTURES
from pipeline.runtime.errors import PipelineError
from pipeline.runtime.quiet_keras import keras

OUTPUT_ARGUMENTS = ("kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer")
RESNET_ARGUMENTS = {"depth": None, "num_filters": 16, "activation": "relu",
                    "kernel_initializer": "he_normal", "l2": 1e-4}
PREACT_ARGUMENTS = {"filters": [32, 64, 128], "blocks": 2, "activation": "relu", "kernel_initializer": "he_normal"}
BLOCK_TYPES = ("ResNetV1", "PreActResNet")  # blocks whose `activation` the run-wide override replaces


class FusedBatchNormalization(keras.layers.BatchNormalization):
    """Keras' BatchNormalization, trained with TensorFlow's fused kernel where that applies.

    Keras 2's layer (the studies' tf.keras) used the fused kernel by default; Keras 3's computes the
    moments with separate ops, which made ensemble_cnn_bn's epoch 2.3x dearer on a 2-core CPU (docs/recipes.md).
    Same weights, same normalisation and moving averages (to rounding); inference,
    other backends and other shapes run Keras' own code. `plain_layers` turns a model back into plain Keras
    layers for saving, so a saved model loads without this project.
    """

    def call(self, inputs, training=None, mask=None):
        if not (training and self.trainable and keras.backend.backend() == "tensorflow" and mask is None
                and len(inputs.shape) == 4 and self.axis in (-1, 3) and not self.renorm and not self.synchronized):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf  # only on the TensorFlow backend: the same code runs under JAX
        channels = inputs.shape[-1]
        outputs, mean, variance, _, _, _ = tf.raw_ops.FusedBatchNormV3(
            x=inputs, scale=self.gamma if self.scale else tf.ones([channels]),
            offset=self.beta if self.center else tf.zeros([channels]), mean=tf.constant([], "float32"),
            variance=tf.constant([], "float32"), epsilon=self.epsilon, data_format="NHWC", is_training=True)
        count = tf.cast(tf.reduce_prod(tf.shape(inputs)[:-1]), "float32")
        variance = variance * (count - 1.0) / count  # the kernel returns the unbiased variance; Keras keeps the batch's
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        return tf.cast(outputs, self.compute_dtype)


def plain_layers(model):
    """`model` with every FusedBatchNormalization a keras.layers.BatchNormalization holding the same weights.

    What is saved: the file then names only Keras' own layers. Every other layer is the same object, its weights
    and state untouched. A model without fused layers is returned as it is.
    """
    fused = [layer for layer in model.layers if isinstance(layer, FusedBatchNormalization)]
    if not fused:
        return model
    plain = {}

    def replace(layer):
        if isinstance(layer, FusedBatchNormalization):
            plain[layer.name] = keras.layers.BatchNormalization.from_config(layer.get_config())
            return plain[layer.name]
        return layer

    copy = keras.models.clone_model(model, clone_function=replace)
    for layer in fused:
        plain[layer.name].set_weights(layer.get_weights())
    return copy


def _allowed_arguments(layer_class):
    parameters = inspect.signature(layer_class.__init__).parameters
    return sorted(name for name, parameter in parameters.items()
                  if name != "self" and parameter.kind is not parameter.VAR_KEYWORD)


def _check_arguments(arguments, allowed, layer_type, where):
    for name in arguments:
        if name not in allowed:
            raise PipelineError(f"{where}: {layer_type} has no argument {name!r}; allowed: {', '.join(allowed)}")


def override(arguments, layer_type, activation=None, dropout=None):
    """`arguments` with the run-wide `activation` and `dropout` put in place of the architecture's own.

    activation replaces every `activation` an architecture sets (not the softmax output);
    dropout replaces every Dropout rate. None keeps the architecture's values.
    """
    arguments = dict(arguments or {})
    if activation is not None and ("activation" in arguments or layer_type in BLOCK_TYPES):
        arguments["activation"] = activation
    if dropout is not None and layer_type == "Dropout":
        arguments["rate"] = dropout
    return arguments


def make_layer(layer_type, arguments, where):
    """One Keras layer of type `layer_type` (BatchNormalization: this project's fused one); `where` names it in
    errors."""
    layer_class = FusedBatchNormalization if layer_type == "BatchNormalization" else getattr(keras.layers, layer_type)
    _check_arguments(arguments, _allowed_arguments(layer_class), layer_type, where)
    try:
        return layer_class(**arguments)
    except (ValueError, TypeError) as error:
        raise PipelineError(f"{where}: {layer_type}({arguments}): {error}") from None


def resnet_layer(x, num_filters, kernel_size=3, strides=1, activation="relu", batch_normalization=True, *,
                 kernel_initializer, l2):
    """Study 002's resnet_layer with conv_first=False: [BatchNorm] -> [Activation] -> Conv2D."""
    if batch_normalization:
        x = FusedBatchNormalization()(x)
    if activation is not None:
        x = keras.layers.Activation(activation)(x)
    return keras.layers.Conv2D(num_filters, kernel_size, strides=strides, padding="same",
                               kernel_initializer=kernel_initializer,
                               kernel_regularizer=keras.regularizers.L2(l2))(x)


def resnet_v1(x, where, **arguments):
    """Study 002's resnet_v1 body (everything before Flatten): depth 6n+2, three stacks of n blocks."""
    _check_arguments(arguments, list(RESNET_ARGUMENTS), "ResNetV1", where)
    options = {**RESNET_ARGUMENTS, **arguments}
    depth = options.pop("depth")
    if not is_int(depth) or depth < 2 or (depth - 2) % 6 != 0:
        raise PipelineError(f"{where}: ResNetV1 depth {depth!r} is not allowed; "
                            "allowed: 6n + 2 (2, 8, 14, 20, 32, ...)")
    num_filters, activation = options.pop("num_filters"), options.pop("activation")
    x = resnet_layer(x, num_filters, activation=activation, **options)
    for stack in range(3):
        for block in range((depth - 2) // 6):
            strides = 2 if stack > 0 and block == 0 else 1  # first block of stacks 2 and 3 halves the size
            y = resnet_layer(x, num_filters, strides=strides, activation=activation, **options)
            y = resnet_layer(y, num_filters, activation=None, **options)
            if stack > 0 and block == 0:  # 1x1 projection so the shortcut matches the new shape
                x = resnet_layer(x, num_filters, kernel_size=1, strides=strides, activation=None,
                                 batch_normalization=False, **options)
            x = keras.layers.Activation(activation)(keras.layers.add([x, y]))
        num_filters *= 2
    return x


def preact_resnet(x, where, **arguments):
    """A pre-activation ResNet body (He et al., 2016) for small images.

    A 3x3 convolution, then one stage per entry of `filters`, each of `blocks` residual blocks
    [BatchNorm, activation, Conv 3x3, BatchNorm, activation, Conv 3x3] added to their input (the first
    block of every later stage halves the size, its shortcut a 1x1 convolution), then BatchNorm,
    activation and global average pooling.
    """
    _check_arguments(arguments, list(PREACT_ARGUMENTS), "PreActResNet", where)
    options = {**PREACT_ARGUMENTS, **arguments}
    filters, blocks = options["filters"], options["blocks"]
    if not (isinstance(filters, list) and filters and all(is_int(f) and f > 0 for f in filters)):
        raise PipelineError(f"{where}: PreActResNet filters {filters!r} is not allowed; allowed: a list of "
                            "integers >= 1, one per stage, e.g. [32, 64, 128]")
    if not is_int(blocks) or blocks < 1:
        raise PipelineError(f"{where}: PreActResNet blocks {blocks!r} is not allowed; allowed: an integer >= 1")

    def convolution(width, size, strides=1):
        return keras.layers.Conv2D(width, size, strides=strides, padding="same", use_bias=False,
                                   kernel_initializer=options["kernel_initializer"])

    def activate(tensor):
        return keras.layers.Activation(options["activation"])(FusedBatchNormalization()(tensor))

    x = convolution(filters[0], 3)(x)
    for stage, width in enumerate(filters):
        for block in range(blocks):
            strides = 2 if stage > 0 and block == 0 else 1
            y = activate(x)
            shortcut = x if strides == 1 and x.shape[-1] == width else convolution(width, 1, strides)(y)
            y = convolution(width, 3)(activate(convolution(width, 3, strides)(y)))
            x = keras.layers.add([shortcut, y])
    return keras.layers.GlobalAveragePooling2D()(activate(x))


def plain_layer(layer_type):
    """The LAYER_BUILDERS entry of a plain Keras layer: keras.layers.<layer_type>(**arguments)(x)."""
    return lambda x, arguments, where: make_layer(layer_type, arguments, where)(x)


# What an architecture entry {LayerType: {argument: value}} may name: LayerType -> function(x, arguments, where)
# that adds it to the graph and returns the new output. Adding a layer type is one entry here. `Output` is not
# a layer but the arguments of the softmax output (last entry only): build_model handles it.
LAYER_BUILDERS = {
    **{name: plain_layer(name) for name in ("Conv2D", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D",
                                            "Flatten", "Dropout", "Dense", "BatchNormalization", "Activation")},
    "ResNetV1": lambda x, arguments, where: resnet_v1(x, where, **arguments),
    "PreActResNet": lambda x, arguments, where: preact_resnet(x, where, **arguments),
}


def build_model(architecture, input_shape, num_classes, *, name="model", activation=None, dropout=None,
                max_params=None, normalization=None):
    """The architecture's layers, then Dense(num_classes, softmax).

    `activation` / `dropout` override the architecture's values (see `override`);
    `max_params` makes a bigger model an error; `normalization`, a Keras layer already
    adapted to the training data, goes first and is not counted against `max_params`.
    """
    if num_classes < 2:
        raise PipelineError(f"the data has {num_classes} class(es); a classifier needs at least 2")
    output_arguments = {}
    inputs = x = keras.Input(shape=input_shape)
    if normalization is not None:
        x = normalization(x)
    try:
        for index, spec in enumerate(architecture):
            where = f"{ARCHITECTURES}: {name}[{index}]"
            (layer_type, arguments), = spec.items()
            arguments = override(arguments, layer_type, activation, dropout)
            if layer_type == "Output":
                if index != len(architecture) - 1:
                    raise PipelineError(f"{where}: Output must be the last entry")
                _check_arguments(arguments, OUTPUT_ARGUMENTS, "Output", where)
                output_arguments = arguments
            elif layer_type in LAYER_BUILDERS:
                x = LAYER_BUILDERS[layer_type](x, arguments, where)
            else:
                raise PipelineError(f"{where}: unknown layer type {layer_type!r}; allowed: "
                                    f"{', '.join([*LAYER_BUILDERS, 'Output'])}")
        # float32 output: softmax and loss stay exact under mixed precision
        outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32", **output_arguments)(x)
    except ValueError as error:
        reason = str(error).splitlines()[0]
        raise PipelineError(f"{ARCHITECTURES}: {name}: does not fit input {input_shape}: {reason}") from None
    model = keras.Model(inputs, outputs, name=name)
    count = count_params(model)
    if max_params is not None and count > max_params:
        raise PipelineError(f"{ARCHITECTURES}: {name}: {count:,} parameters exceed max_params {max_params:,}")
    return model


def count_params(model):
    """Parameters of the network itself: a leading input Normalization layer's statistics are not counted."""
    return sum(layer.count_params() for layer in model.layers if not isinstance(layer, keras.layers.Normalization))


def learning_rate_of(optimizer, learning_rate):
    """`learning_rate`, or where it is None Keras 2's default for `optimizer`, which the studies ran."""
    return OPTIMIZERS[optimizer][1] if learning_rate is None else learning_rate


def compile_model(model, optimizer, learning_rate, steps_per_execution=1, jit_compile="auto", label_smoothing=0.0):
    """Categorical cross-entropy on integer labels, accuracy as the metric.

    `learning_rate` None means Keras 2's default for `optimizer` (OPTIMIZERS); it may be a Keras schedule.
    `label_smoothing` > 0 trains on one-hot labels (Keras' sparse loss cannot smooth). `steps_per_execution`
    and `jit_compile` ("auto": Keras decides, see pipeline.acceleration) change speed, not what is computed.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer {optimizer!r} is not one of {', '.join(OPTIMIZERS)}")
    model.compile(optimizer=getattr(keras.optimizers, OPTIMIZERS[optimizer][0])(learning_rate=learning_rate_of(
                      optimizer, learning_rate)),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing) if label_smoothing
                  else "sparse_categorical_crossentropy", metrics=["accuracy"], jit_compile=jit_compile,
                  steps_per_execution=steps_per_execution)
    return model
