import keras
import numpy as np
import pytest

from pipeline.acceleration import Acceleration, choose_acceleration, choose_precision, cpu_flags, device_kind
from pipeline.members import read_history
from pipeline.params import load_params
from pipeline.paths import live_dir
from pipeline.runtime.errors import PipelineError
from pipeline.training import (
    AugmentedImages,
    KeepBestWeights,
    LogToDvclive,
    TrainConfig,
    cosine_schedule,
    member_split,
    snapshot_schedule,
    standardizer,
    step_schedule,
    train_member,
)

SHIFT_2 = {"shift": 2, "rotate": 0, "zoom": 0, "flip": False}  # train.augment
TINY = [{"Conv2D": {"filters": 4, "kernel_size": 3, "activation": "relu"}}, {"Flatten": {}}]


def test_member_split_is_a_partition_of_the_requested_sizes():
    train, validation = member_split(1000, seed=0, member=3, validation_fraction=0.2)
    assert len(train) == 800 and len(validation) == 200
    assert np.intersect1d(train, validation).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, validation])), np.arange(1000))


def test_member_split_depends_on_member_and_seed_only():
    first = member_split(1000, 0, 1, 0.2)[1]
    np.testing.assert_array_equal(first, member_split(1000, 0, 1, 0.2)[1])
    assert not np.array_equal(first, member_split(1000, 0, 2, 0.2)[1])
    assert not np.array_equal(first, member_split(1000, 1, 1, 0.2)[1])


def test_member_split_refuses_an_empty_part():
    with pytest.raises(PipelineError, match=r"params.yaml: train.validation_fraction: 0.1 of 3 images leaves an empty "
                                            r"train or validation part; allowed: "):
        member_split(3, 0, 0, 0.1)


def tiny_data(count=240, seed=0):
    """Images whose class is which quarter of the image is bright: learnable in a few epochs."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, count)
    images = rng.uniform(0, 0.2, (count, 28, 28, 1)).astype(np.float32)
    for index, label in enumerate(labels):
        row, column = divmod(int(label), 2)
        images[index, row * 14:(row + 1) * 14, column * 14:(column + 1) * 14] += 0.8
    return images, labels


PLAIN = Acceleration("tensorflow", "cpu", "float32", 1, None)  # accelerate: off
FAST = Acceleration("tensorflow", "cpu", "float32", 32, 1024)  # accelerate: auto, in float32: the same on every CPU


def tiny_config(**overrides):
    values = dict(seed=0, epochs=3, batch_size=32, split="per_member", normalize="scale", arch="tiny",
                  architecture=TINY, activation=None, dropout=None, max_params=None, optimizer="nadam",
                  learning_rate=0.002, validation_fraction=0.25, early_stopping=True, patience=10, keep_best=True,
                  lr_schedule=[], warmup_epochs=0, snapshots=1, label_smoothing=0.0, augment={**SHIFT_2, "shift": 0},
                  precision="float32", accelerate="off", threads=None)
    return TrainConfig(**{**values, **overrides})


def train_tiny(member=0, acceleration=PLAIN, callbacks=(), **overrides):
    """(model, history, kept epoch) of a tiny member (train_member without its snapshots)."""
    return train_snapshots(member, acceleration, callbacks, **overrides)[:3]


def train_snapshots(member=0, acceleration=PLAIN, callbacks=(), **overrides):
    x, y = tiny_data()
    return train_member(x, y, 4, tiny_config(**overrides), member, acceleration, callbacks=callbacks, verbose=0)


@pytest.mark.parametrize("acceleration", [PLAIN, FAST], ids=["off", "auto"])
def test_same_seed_gives_identical_weights_and_history(acceleration):
    model_a, history_a, best_a = train_tiny(acceleration=acceleration)
    model_b, history_b, best_b = train_tiny(acceleration=acceleration)
    assert history_a == history_b and best_a == best_b
    for weights_a, weights_b in zip(model_a.get_weights(), model_b.get_weights()):
        np.testing.assert_array_equal(weights_a, weights_b)
    _, history_c, _ = train_tiny(member=1, acceleration=acceleration)
    assert history_c != history_a


def test_acceleration_changes_speed_not_what_is_learned():
    """steps_per_execution and the validation batch size: the same epochs, to float rounding."""
    _, plain, plain_best = train_tiny(epochs=4)
    _, fast, fast_best = train_tiny(epochs=4, acceleration=FAST)
    assert plain_best == fast_best
    for key in plain:
        np.testing.assert_allclose(fast[key], plain[key], rtol=1e-3, err_msg=key)


def test_config_fields_are_the_params_keys():
    params = load_params()
    config = TrainConfig.from_params(params)
    for field, value in vars(config).items():
        if field == "architecture":
            assert value == params["architectures"][params["arch"]]
        else:
            assert value == params.get(field, params["train"].get(field, "missing")), field
    assert set(params["train"]) <= set(vars(config))  # every train.* key reaches the trainer


def test_dvclive_log_is_the_history_read_back_with_nan_without_validation(tmp_path):
    for overrides in ({}, dict(split="none", early_stopping=False, keep_best=False)):
        _, history, _ = train_tiny(epochs=2, callbacks=[LogToDvclive(str(tmp_path / live_dir(0)))], **overrides)
        written = read_history(0, 2, root=tmp_path)
        assert written["loss"] == pytest.approx(history["loss"]) and len(written["loss"]) == 2
        if overrides:
            assert np.isnan(written["val_loss"]).all() and np.isnan(written["val_accuracy"]).all()
        else:
            assert written == {key: pytest.approx(history[key]) for key in written}
    with pytest.raises(PipelineError, match=r"metrics/loss.tsv: 2 epochs, not the 3 the member ran; retrain it with"):
        read_history(0, 3, root=tmp_path)


def test_keep_best_weights_restores_the_best_validation_accuracy_epoch():
    model, history, best_epoch = train_tiny(epochs=4)
    assert best_epoch == 1 + int(np.argmax(history["val_accuracy"]))  # first of equal maxima
    x, y = tiny_data()
    _, validation = member_split(len(x), 0, 0, 0.25)
    _, restored_accuracy = model.evaluate(x[validation], y[validation], verbose=0)
    assert restored_accuracy == pytest.approx(history["val_accuracy"][best_epoch - 1], abs=1e-6)


def test_keep_best_weights_only_replaces_on_strict_improvement():
    callback = KeepBestWeights()

    class FakeModel:
        calls = 0

        def get_weights(self):
            FakeModel.calls += 1
            return [FakeModel.calls]

    callback.set_model(FakeModel())
    for epoch, value in enumerate([0.5, 0.7, 0.7, 0.6]):
        callback.on_epoch_end(epoch, {"val_accuracy": value})
    assert callback.best_epoch == 2 and callback.best_weights == [2]


@pytest.mark.parametrize("requested, device, flags, expected", [
    ("auto", "cpu", {"avx2", "fma"}, "float32"),                 # a CPU without bf16 instructions (Zen 3)
    ("auto", "cpu", {"avx512f", "amx_bf16", "amx_tile"}, "mixed_bfloat16"),
    ("auto", "cpu", {"avx512f", "avx512_bf16"}, "mixed_bfloat16"),
    ("auto", "gpu", set(), "mixed_float16"),
    ("float32", "gpu", {"amx_bf16"}, "float32"),                  # a forced value always wins
    ("mixed_bfloat16", "cpu", set(), "mixed_bfloat16"),
])
def test_choose_precision(requested, device, flags, expected):
    assert choose_precision(requested, device, flags) == expected


@pytest.mark.parametrize("precision, accelerate, device, flags, expected", [
    ("auto", "auto", "cpu", {"avx512_bf16"}, ("mixed_bfloat16", 32, 1024)),
    ("auto", "auto", "cpu", {"avx2"}, ("float32", 1, 1024)),  # steps_per_execution was slower there
    ("float32", "auto", "cpu", {"amx_bf16"}, ("float32", 1, 1024)),
    ("auto", "auto", "gpu", set(), ("mixed_float16", 32, 1024)),
    ("auto", "off", "cpu", {"avx512_bf16"}, ("mixed_bfloat16", 1, None)),
])
def test_choose_acceleration(precision, accelerate, device, flags, expected):
    chosen = choose_acceleration(precision, accelerate, device, flags, "jax")
    assert (chosen.precision, chosen.steps_per_execution, chosen.validation_batch_size) == expected
    assert (chosen.backend, chosen.device) == ("jax", device)
    with pytest.raises(ValueError, match="accelerate 'fast' is not one of auto, off"):
        choose_acceleration(precision, "fast", device, flags, "jax")


def test_device_kind_is_found_through_keras():
    assert device_kind() == "cpu"  # CI has no GPU; the function asks Keras, not TensorFlow


def test_cpu_flags_reads_the_flags_line(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 amx_bf16\n")
    assert cpu_flags(str(cpuinfo)) == {"fpu", "avx2", "amx_bf16"}
    assert cpu_flags(str(tmp_path / "missing")) == set()


def test_mixed_bfloat16_trains_with_a_float32_output():
    try:
        model, history, _ = train_tiny(epochs=1, acceleration=Acceleration("tensorflow", "cpu", "mixed_bfloat16",
                                                                           1, None))
    finally:  # the policy is process-wide: leave float32 for the tests after this one
        keras.mixed_precision.set_global_policy("float32")
    assert model.layers[0].compute_dtype == "bfloat16" and model.layers[-1].compute_dtype == "float32"
    assert model.predict(tiny_data(4)[0], verbose=0).dtype == np.float32
    assert np.isfinite(history["loss"][0])


def test_fixed_split_is_the_same_for_every_member_and_none_keeps_everything():
    fixed = [member_split(1000, 0, member, 0.1, split="fixed")[1] for member in (0, 1, 7)]
    assert len(fixed[0]) == 100 and all(np.array_equal(fixed[0], other) for other in fixed[1:])
    assert not np.array_equal(fixed[0], member_split(1000, 1, 0, 0.1, split="fixed")[1])  # seed still matters
    train, validation = member_split(1000, 0, 3, 0.2, split="none")
    np.testing.assert_array_equal(train, np.arange(1000))
    assert validation.size == 0


def test_step_schedule_follows_study_002():
    schedule = step_schedule(1e-3, [[80, 0.1], [120, 0.01], [160, 0.001], [180, 0.0005]])
    rates = {epoch: schedule(epoch, None) for epoch in (0, 80, 81, 121, 161, 181)}
    assert rates == pytest.approx({0: 1e-3, 80: 1e-3, 81: 1e-4, 121: 1e-5, 161: 1e-6, 181: 5e-7})


def test_lr_schedule_sets_the_optimizers_rate_during_training():
    model, _, _ = train_tiny(epochs=3, lr_schedule=[[0, 0.5], [1, 0.1]])  # epochs 0, 1, 2: 1, 0.5, 0.1 x 0.002
    assert float(model.optimizer.learning_rate) == pytest.approx(0.0002)


def test_without_early_stopping_or_keep_best_all_epochs_run_and_the_last_is_kept():
    model, history, kept = train_tiny(epochs=4, patience=1, early_stopping=False, keep_best=False)
    assert len(history["loss"]) == 4 and kept == 4


def test_split_none_trains_on_everything_without_validation():
    model, history, kept = train_tiny(epochs=2, split="none", early_stopping=False, keep_best=False)
    assert sorted(history) == ["accuracy", "loss"] and kept == 2


def test_standardize_uses_the_members_training_part_only():
    x, y = tiny_data()
    model, _, _ = train_tiny(epochs=1, normalize="standardize")
    train_index, _ = member_split(len(x), 0, 0, 0.25)
    normalization = model.layers[1]
    assert isinstance(normalization, keras.layers.Normalization)
    np.testing.assert_allclose(np.asarray(normalization.mean)[0], x[train_index].mean(axis=0), atol=1e-5)
    assert not np.allclose(np.asarray(normalization.mean)[0], x.mean(axis=0), atol=1e-5)
    assert standardizer(x).mean.shape == (1, 28, 28, 1)


def test_max_params_stops_before_any_epoch():
    with pytest.raises(PipelineError, match="parameters exceed max_params 100"):
        train_tiny(max_params=100)


def test_cosine_schedule_warms_up_linearly_then_decays_to_zero():
    schedule = cosine_schedule(0.002, epochs=10, warmup_epochs=2, steps_per_epoch=5)  # 10 warm-up, 40 decay steps
    rates = [float(schedule(step)) for step in (0, 5, 10, 30, 50)]
    assert rates == pytest.approx([0.0, 0.001, 0.002, 0.001, 0.0], abs=1e-9)
    plain = cosine_schedule(0.002, epochs=10, warmup_epochs=0, steps_per_epoch=5)
    assert [float(plain(step)) for step in (0, 25, 50)] == pytest.approx([0.002, 0.001, 0.0], abs=1e-9)


def test_dvclive_opens_its_folder_only_when_training_begins(tmp_path):
    """DVCLive empties its folder as it opens: a member refused before training leaves the last log as it was."""
    folder = tmp_path / live_dir(0)
    train_tiny(epochs=2, callbacks=[LogToDvclive(str(folder))])
    before = {path: path.read_bytes() for path in folder.rglob("*.tsv")}
    with pytest.raises(PipelineError, match="max_params"):
        train_tiny(epochs=2, max_params=100, callbacks=[LogToDvclive(str(folder))])
    assert before and {path: path.read_bytes() for path in folder.rglob("*.tsv")} == before


def test_snapshot_schedule_restarts_its_cosine_every_cycle():
    schedule = snapshot_schedule(0.002, epochs=6, snapshots=3, steps_per_epoch=5)  # cycles of 10 steps
    rates = [float(schedule(step)) for step in (0, 5, 9, 10, 15, 20, 29)]
    assert rates == pytest.approx([0.002, 0.001, 0.002 * 0.5 * (1 + np.cos(np.pi * 9 / 10)), 0.002, 0.001, 0.002,
                                   0.002 * 0.5 * (1 + np.cos(np.pi * 9 / 10))], abs=1e-9)


def test_snapshots_are_the_last_weights_of_each_cycle():
    cosine = dict(lr_schedule="cosine", early_stopping=False, keep_best=False)
    model, history, kept, snapshots = train_snapshots(epochs=6, snapshots=3, **cosine)
    assert kept == 6 and len(history["loss"]) == 6 and [epoch for epoch, _ in snapshots] == [2, 4]
    final = model.get_weights()
    assert not any(np.array_equal(weights[0], final[0]) for _, weights in snapshots)
    assert not np.array_equal(snapshots[0][1][0], snapshots[1][1][0])
    assert int(model.optimizer.iterations) == 6 * 6  # 180 training images in batches of 32: 12 steps a cycle
    assert float(model.optimizer.learning_rate) == pytest.approx(0.002)  # step 36 would start a fourth cycle
    again = train_snapshots(epochs=6, snapshots=3, **cosine)  # the same seed: the same snapshots
    assert all(np.array_equal(a[1][0], b[1][0]) for a, b in zip(snapshots, again[3]))
    assert train_snapshots(epochs=6, **cosine)[3] == []  # one snapshot: the model's own weights, nothing besides


def test_cosine_lr_schedule_ends_training_at_a_rate_near_zero():
    model, history, _ = train_tiny(epochs=3, lr_schedule="cosine", warmup_epochs=1)
    assert int(model.optimizer.iterations) == 3 * 6  # 180 training images in batches of 32
    assert float(model.optimizer.learning_rate) == pytest.approx(0.002 * 0.5 * (1 + np.cos(np.pi * 12 / 12)), abs=1e-9)
    assert history["accuracy"][-1] > 0.5


def test_label_smoothing_keeps_the_loss_above_the_smoothed_targets_entropy():
    """With smoothing s over 4 classes a perfect member still pays the targets' entropy; without it the loss falls
    towards 0. Accuracy is still measured on the class (one-hot targets, categorical accuracy)."""
    _, smoothed, _ = train_tiny(epochs=8, label_smoothing=0.4, early_stopping=False, keep_best=False)
    _, plain, _ = train_tiny(epochs=8, early_stopping=False, keep_best=False)
    targets = np.array([0.7, 0.1, 0.1, 0.1])  # 1 - s + s/4 for the class, s/4 for each other
    entropy = float(-(targets * np.log(targets)).sum())
    assert min(smoothed["loss"]) >= entropy - 1e-3 and min(plain["loss"]) < entropy / 2
    assert smoothed["val_accuracy"][-1] > 0.9 and plain["val_accuracy"][-1] > 0.9


def bright_quarter(image):
    """Which quarter of a tiny_data image is bright: its class."""
    sums = image[..., 0].reshape(2, 14, 2, 14).sum(axis=(1, 3))
    return int(np.argmax(sums))


def epoch_batches(inputs):
    """[(images, labels), ...] of one pass over AugmentedImages.inputs()'s dataset, as NumPy arrays."""
    return [(images.numpy(), labels.numpy()) for images, labels in inputs["x"]]


def test_augmented_images_are_redrawn_each_epoch_from_the_seed_with_their_labels():
    x, y = tiny_data(100)
    inputs = AugmentedImages(x, y, 32, SHIFT_2, seed=5).inputs()
    first, second = epoch_batches(inputs), epoch_batches(inputs)  # Keras iterates the dataset once an epoch
    assert [len(images) for images, _ in first] == [32, 32, 32, 4]
    images, labels = (np.concatenate(parts) for parts in zip(*first))
    assert images.shape == x.shape and images.dtype == x.dtype and not np.array_equal(labels, y)  # shuffled
    assert [bright_quarter(image) for image in images] == list(labels)  # each label still with its image
    assert not np.array_equal(np.concatenate([images for images, _ in second]), images)
    drawn = AugmentedImages(x, y, 32, SHIFT_2, seed=5)
    np.testing.assert_array_equal(drawn.draw()[0], images)  # epoch 0 from the seed alone
    np.testing.assert_array_equal(drawn.draw()[0], np.concatenate([images for images, _ in second]))
    assert not np.array_equal(AugmentedImages(x, y, 32, SHIFT_2, seed=6).draw()[0], images)


def test_augmented_images_as_a_pydataset_start_at_epoch_0():
    """Other backends than TensorFlow read the PyDataset: Keras reads batch 0 to build the model and ends an
    epoch before the first, which must not spend epoch 0's draw; each epoch's batches are then one draw."""
    x, y = tiny_data(100)
    dataset = AugmentedImages(x, y, 32, SHIFT_2, seed=5)
    dataset.on_epoch_end()
    _ = dataset[0]
    dataset.on_epoch_end()
    expected = AugmentedImages(x, y, 32, SHIFT_2, seed=5)
    for epoch in range(2):
        images = np.concatenate([dataset[index][0] for index in range(len(dataset))])
        np.testing.assert_array_equal(images, expected.draw()[0], err_msg=f"epoch {epoch}")
        dataset.on_epoch_end()


@pytest.mark.parametrize("acceleration", [PLAIN, FAST], ids=["off", "auto"])
def test_training_draws_each_epoch_once_in_order(acceleration, monkeypatch):
    drawn = []
    draw = AugmentedImages.draw

    def counted(self):
        drawn.append(self.epoch)
        return draw(self)

    monkeypatch.setattr(AugmentedImages, "draw", counted)
    train_tiny(augment=SHIFT_2, epochs=3, acceleration=acceleration)
    assert drawn == [0, 1, 2]


@pytest.mark.parametrize("acceleration", [PLAIN, FAST], ids=["off", "auto"])
def test_augmented_training_is_deterministic_per_seed(acceleration):
    recipe = dict(augment={**SHIFT_2, "rotate": 10, "zoom": 0.1, "flip": True}, acceleration=acceleration, epochs=2)
    model_a, history_a, _ = train_tiny(**recipe)
    model_b, history_b, _ = train_tiny(**recipe)
    assert history_a == history_b
    for weights_a, weights_b in zip(model_a.get_weights(), model_b.get_weights()):
        np.testing.assert_array_equal(weights_a, weights_b)
    assert train_tiny(member=1, **recipe)[1] != history_a
    assert train_tiny(acceleration=acceleration, epochs=2)[1] != history_a  # the augmentation did something
