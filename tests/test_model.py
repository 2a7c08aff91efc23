import pytest

from conftest import ROOT
from pipeline.errors import PipelineError
from pipeline.model import build_model
from pipeline.params import load_params


def test_ensemble_cnn_has_the_notebooks_parameter_count():
    params = load_params(str(ROOT / "params.yaml"))
    model = build_model(params["architectures"]["ensemble_cnn"], (28, 28, 1), 10, name="ensemble_cnn")
    assert model.count_params() == 331_450  # study 000's model.summary()
    assert model.output_shape == (None, 10)
    assert [layer.output.shape[1:] for layer in model.layers[:9]][-1] == (5, 5, 64)


def test_unknown_layer_type_is_named():
    with pytest.raises(PipelineError, match=r"architectures.tiny\[1\]: unknown layer type 'Conv3D'; allowed: Conv2D"):
        build_model([{"Flatten": {}}, {"Conv3D": {"filters": 2}}], (28, 28, 1), 10, name="tiny")


def test_unknown_layer_argument_is_named():
    with pytest.raises(PipelineError, match=r"architectures.tiny\[0\]: Conv2D has no argument 'filtres'; allowed: "):
        build_model([{"Conv2D": {"filtres": 2, "kernel_size": 3}}], (28, 28, 1), 10, name="tiny")


def test_architecture_that_does_not_fit_the_input_is_an_error():
    with pytest.raises(PipelineError, match=r"architectures.tiny: does not fit input \(28, 28, 1\): Computed output size would be zero"):
        build_model([{"Conv2D": {"filters": 2, "kernel_size": 40}}], (28, 28, 1), 10, name="tiny")
