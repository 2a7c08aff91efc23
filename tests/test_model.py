import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from pipeline.model import FusedBatchNormalization, build_model, compile_model, count_params, plain_layers
from pipeline.options import OPTIMIZERS
from pipeline.params import load_params
from pipeline.runtime.errors import PipelineError
from pipeline.runtime.quiet_keras import ONEDNN
from pipeline.training import standardizer

from conftest import ROOT

ARCHITECTURES = load_params(str(ROOT / "params.yaml"))["architectures"]

# (architecture, classes, parameters): the studies' counts where they printed one, else counted by
# hand from the study's layer list (Conv2D: k*k*in*out + out; Dense: in*out + out; BatchNorm: 4 per channel).
PARAMETER_COUNTS = [
    ("ensemble_cnn", 10, 331_450),   # 000's model.summary()
    ("cnn_bn", 5, 33_989),           # 002, model 1: 320 + 128 + 128 + 18,496 + 256 + 256 + 6,400 + 8,005
    ("resnet_v1", 5, 62_889),        # 002, model 2 (depth 2): 4 + 160 + 62,725
    ("compact", 10, 47_582),         # 003's model.summary()
    ("ensemble_cnn_bn", 10, 332_602),  # ensemble_cnn + 7 BatchNormalization layers (4 x channels each)
    ("slim_cnn_bn", 10, 330_218),   # ensemble_cnn_bn less one Conv2D 16 -> 16 (2,320) and its BatchNormalization (64)
    ("resnet", 10, 697_514),         # pre-activation ResNet 32/64/128, 2 blocks per stage: about 0.7 M
    ("lenet_like", 10, 716_234),     # 004, model 1
    ("vgg_like", 10, 2_128_650),     # 004, model 2
    ("deep_custom", 10, 56_753_866),  # 004, model 3
]


def test_every_shipped_architecture_is_pinned():
    assert sorted(ARCHITECTURES) == sorted(name for name, _, _ in PARAMETER_COUNTS)


@pytest.mark.parametrize("name, num_classes, expected", PARAMETER_COUNTS)
def test_parameter_count(name, num_classes, expected):
    model = build_model(ARCHITECTURES[name], (28, 28, 1), num_classes, name=name)
    assert model.count_params() == expected
    assert model.output_shape == (None, num_classes)


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_each_architecture_trains_one_step(name):
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).uniform(0, 1, (8, 28, 28, 1)).astype(np.float32)
    model = compile_model(build_model(ARCHITECTURES[name], (28, 28, 1), 3, name=name), "nadam", None)
    before = [weights.copy() for weights in model.get_weights()]
    history = model.fit(x, np.arange(8) % 3, batch_size=8, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0])
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_deep_custom_builds_the_studys_shapes():
    model = build_model(ARCHITECTURES["deep_custom"], (28, 28, 1), 10, name="deep_custom")
    conv_shapes = [tuple(layer.output.shape[1:]) for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert conv_shapes == [(26, 26, 64), (24, 24, 128), (22, 22, 256), (20, 20, 512), (17, 17, 768),
                           (5, 5, 1024), (2, 2, 2048)]


def test_ensemble_cnn_last_convolution_is_valid_padded():
    model = build_model(ARCHITECTURES["ensemble_cnn"], (28, 28, 1), 10, name="ensemble_cnn")
    convolutions = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert tuple(convolutions[-1].output.shape[1:]) == (5, 5, 64)


def test_resnet_v1_follows_the_study_block_order_and_initialisers():
    model = build_model(ARCHITECTURES["resnet_v1"], (28, 28, 1), 5, name="resnet_v1")
    kinds = [type(layer).__name__ for layer in model.layers[1:]]
    assert kinds == ["FusedBatchNormalization", "Activation", "Conv2D", "Flatten", "Dense"]  # conv_first=False
    conv, output = model.layers[3], model.layers[-1]
    assert type(conv.kernel_initializer).__name__ == "HeNormal"
    assert conv.kernel_regularizer.l2 == pytest.approx(1e-4)
    assert type(output.kernel_initializer).__name__ == "HeNormal"


def test_resnet_v1_depth_20_has_residual_stacks():
    model = build_model([{"ResNetV1": {"depth": 20}}, {"Flatten": {}}], (28, 28, 1), 10, name="resnet20")
    assert sum(isinstance(layer, keras.layers.Add) for layer in model.layers) == 9  # 3 stacks of 3 blocks
    assert model.count_params() == 304_622


@pytest.mark.parametrize("depth", [3, 7, 0, "20"])
def test_resnet_v1_depth_must_be_6n_plus_2(depth):
    with pytest.raises(PipelineError, match=rf"architectures.yaml: r\[0\]: ResNetV1 depth {depth!r} is not allowed; "
                                            r"allowed: 6n \+ 2"):
        build_model([{"ResNetV1": {"depth": depth}}], (28, 28, 1), 10, name="r")


def test_resnet_is_pre_activation_with_three_stages_and_global_pooling():
    model = build_model(ARCHITECTURES["resnet"], (28, 28, 1), 10, name="resnet")
    assert sum(isinstance(layer, keras.layers.Add) for layer in model.layers) == 6  # 3 stages x 2 blocks
    assert type(model.layers[1]).__name__ == "Conv2D"  # the stem; every block then starts with BatchNorm + relu
    assert type(model.layers[-2]).__name__ == "GlobalAveragePooling2D"
    widths = [layer.filters for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert sorted(set(widths)) == [32, 64, 128]
    last_maps = [tuple(layer.output.shape[1:]) for layer in model.layers if isinstance(layer, keras.layers.Add)]
    assert last_maps[::2] == [(28, 28, 32), (14, 14, 64), (7, 7, 128)]  # each later stage halves the size
    sigmoid = build_model(ARCHITECTURES["resnet"], (28, 28, 1), 10, name="resnet", activation="sigmoid")
    assert {layer.activation.__name__ for layer in sigmoid.layers if isinstance(layer, keras.layers.Activation)} == \
        {"sigmoid"}


@pytest.mark.parametrize("arguments, message", [
    ({"filters": []}, r"PreActResNet filters \[\] is not allowed; allowed: a list of integers >= 1"),
    ({"filters": [32, 0]}, r"PreActResNet filters \[32, 0\] is not allowed"),
    ({"blocks": 0}, r"PreActResNet blocks 0 is not allowed; allowed: an integer >= 1"),
    ({"depth": 20}, r"PreActResNet has no argument 'depth'; allowed: filters, blocks"),
])
def test_preact_resnet_arguments_are_checked(arguments, message):
    with pytest.raises(PipelineError, match=r"architectures.yaml: r\[0\]: " + message):
        build_model([{"PreActResNet": arguments}], (28, 28, 1), 10, name="r")


def test_activation_and_dropout_overrides_reach_every_layer_but_the_output():
    model = build_model(ARCHITECTURES["compact"], (28, 28, 1), 10, name="compact", activation="sigmoid", dropout=0.3)
    activations = {layer.activation.__name__ for layer in model.layers[1:-1] if hasattr(layer, "activation")}
    assert activations == {"sigmoid"}
    assert model.layers[-1].activation.__name__ == "softmax"
    assert [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)] == [0.3, 0.3]
    own = build_model(ARCHITECTURES["compact"], (28, 28, 1), 10, name="compact")
    assert [layer.rate for layer in own.layers if isinstance(layer, keras.layers.Dropout)] == [0.2, 0.4]


def test_max_params_is_checked_before_training():
    build_model(ARCHITECTURES["compact"], (28, 28, 1), 10, name="compact", max_params=50_000)
    with pytest.raises(PipelineError,
                       match=r"architectures.yaml: ensemble_cnn: 331,450 parameters exceed max_params 50,000"):
        build_model(ARCHITECTURES["ensemble_cnn"], (28, 28, 1), 10, name="ensemble_cnn", max_params=50_000)


def test_standardization_layer_is_not_counted_against_the_budget():
    x = np.random.default_rng(0).uniform(0, 1, (20, 28, 28, 1)).astype(np.float32)
    model = build_model(ARCHITECTURES["compact"], (28, 28, 1), 10, name="compact", max_params=47_582,
                        normalization=standardizer(x))
    assert count_params(model) == 47_582 and model.count_params() > 47_582


def test_unknown_layer_type_is_named():
    with pytest.raises(PipelineError,
                       match=r"architectures.yaml: tiny\[1\]: unknown layer type 'Conv3D'; allowed: Conv2D"):
        build_model([{"Flatten": {}}, {"Conv3D": {"filters": 2}}], (28, 28, 1), 10, name="tiny")


@pytest.mark.parametrize("spec, message", [
    ({"Conv2D": {"filtres": 2, "kernel_size": 3}}, r"Conv2D has no argument 'filtres'; allowed: "),
    ({"ResNetV1": {"depth": 2, "width": 3}}, r"ResNetV1 has no argument 'width'; allowed: depth, num_filters"),
    ({"Output": {"units": 3}}, r"Output has no argument 'units'; allowed: kernel_initializer"),
])
def test_unknown_layer_argument_is_named(spec, message):
    with pytest.raises(PipelineError, match=r"architectures.yaml: tiny\[0\]: " + message):
        build_model([spec], (28, 28, 1), 10, name="tiny")


def test_output_entry_must_be_last():
    with pytest.raises(PipelineError, match=r"architectures.yaml: tiny\[0\]: Output must be the last entry"):
        build_model([{"Output": {}}, {"Flatten": {}}], (28, 28, 1), 10, name="tiny")


def test_architecture_that_does_not_fit_the_input_is_an_error():
    with pytest.raises(PipelineError, match=r"architectures.yaml: tiny: does not fit input \(28, 28, 1\): "
                                            r"Computed output size would be zero"):
        build_model([{"Conv2D": {"filters": 2, "kernel_size": 40}}], (28, 28, 1), 10, name="tiny")


@pytest.mark.parametrize("optimizer", ["nadam", "adam", "adadelta", "sgd"])
def test_learning_rate_null_means_keras_2_default(optimizer):
    model = compile_model(build_model([{"Flatten": {}}], (28, 28, 1), 2), optimizer, None)
    assert float(model.optimizer.learning_rate) == pytest.approx(OPTIMIZERS[optimizer][1])
    assert OPTIMIZERS["adadelta"][1] == 1.0  # Keras 3's default is 0.001: 004 and 003 ran 1.0


def batch_norm_pair(policy, channels=8, momentum=0.99):
    """(Keras' BatchNormalization, the fused one) under dtype `policy`, built with the same random weights."""
    rng = np.random.default_rng(1)
    layers = (keras.layers.BatchNormalization(momentum=momentum, dtype=policy),
              FusedBatchNormalization(momentum=momentum, dtype=policy))
    weights = [rng.uniform(0.5, 2.0, channels), rng.normal(0, 1, channels), rng.normal(0, 1, channels),
               rng.uniform(0.5, 2.0, channels)]  # gamma, beta, moving mean, moving variance
    for layer in layers:
        layer.build((None, 5, 5, channels))
        layer.set_weights([w.astype(np.float32) for w in weights])
    return layers


@pytest.mark.parametrize("policy, tolerance", [("float32", 1e-4), ("mixed_bfloat16", 3e-2)])
def test_fused_batch_normalization_trains_as_keras_does(policy, tolerance):
    import tensorflow as tf
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(3.0, 2.0, (16, 5, 5, 8)).astype(np.float32))
    weights = tf.constant(rng.normal(0.0, 1.0, (16, 5, 5, 8)).astype(np.float32))  # a loss that needs every gradient
    results = []
    for layer in batch_norm_pair(policy, momentum=0.0):  # the moving statistics become the batch's own
        with tf.GradientTape() as tape:
            tape.watch(x)
            outputs = layer(x, training=True)
            loss = tf.reduce_sum(tf.cast(outputs, "float32") * weights)
        gradients = tape.gradient(loss, [x, layer.gamma, layer.beta])
        results.append([outputs, *gradients, layer.moving_mean, layer.moving_variance])
        assert outputs.dtype == layer.compute_dtype
    for keras_value, fused_value in zip(*results):
        np.testing.assert_allclose(np.asarray(fused_value, np.float32), np.asarray(keras_value, np.float32),
                                   rtol=tolerance, atol=tolerance)


def test_tensorflow_loads_with_onednn_unless_the_environment_turns_it_off():
    """The project's Keras import turns oneDNN's kernels on, which TensorFlow leaves off on CPUs without AVX-512 VNNI,
    bf16 or AMX (1.5x slower epochs there); TF_ENABLE_ONEDNN_OPTS=0 set beforehand keeps them off."""
    code = ("import os; from pipeline.runtime.quiet_keras import keras; "
            "from tensorflow.python.util import _pywrap_util_port; "
            f"print(os.environ[{ONEDNN!r}], _pywrap_util_port.IsMklEnabled())")

    def loaded(**setting):
        environment = {name: value for name, value in os.environ.items() if name != ONEDNN} | setting
        return subprocess.run([sys.executable, "-c", code], env=environment, cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.split()

    assert loaded() == ["1", "True"]
    assert loaded(**{ONEDNN: "0"}) == ["0", "False"]


def test_fused_batch_normalization_infers_with_the_moving_statistics():
    x = np.random.default_rng(0).normal(3.0, 2.0, (4, 5, 5, 8)).astype(np.float32)
    keras_layer, fused_layer = batch_norm_pair("float32")
    np.testing.assert_array_equal(fused_layer(x, training=False), keras_layer(x, training=False))


@pytest.mark.parametrize("name, standardize", [("ensemble_cnn_bn", False), ("resnet", False), ("cnn_bn", True)])
def test_plain_layers_saves_a_model_keras_loads_alone(name, standardize, tmp_path):
    x = np.random.default_rng(0).uniform(0, 1, (4, 28, 28, 1)).astype(np.float32)
    model = build_model(ARCHITECTURES[name], (28, 28, 1), 10, name=name,
                        normalization=standardizer(x) if standardize else None)
    fused = [layer for layer in model.layers if isinstance(layer, FusedBatchNormalization)]
    for layer in fused:  # statistics and scales other than the initial ones, so copying them is tested
        layer.set_weights([np.random.default_rng(1).uniform(0.5, 1.5, w.shape).astype(np.float32)
                           for w in layer.get_weights()])
    assert fused
    plain = plain_layers(model)
    assert not any(isinstance(layer, FusedBatchNormalization) for layer in plain.layers)
    assert [layer.name for layer in plain.layers[1:]] == [layer.name for layer in model.layers[1:]]
    plain.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")  # the fused class is not registered with Keras
    for copy in (plain, loaded):
        np.testing.assert_array_equal(copy.predict(x, verbose=0), model.predict(x, verbose=0))
    assert count_params(loaded) == count_params(model)


def test_plain_layers_returns_a_model_without_batch_normalization_as_it_is():
    model = build_model(ARCHITECTURES["ensemble_cnn"], (28, 28, 1), 10, name="ensemble_cnn")
    assert plain_layers(model) is model
