import numpy as np
import pytest

from pipeline.augment import augment, augments, flip_images, shift_images, warp_images

NONE = {"shift": 0, "rotate": 0, "zoom": 0, "flip": False}  # train.augment as params.yaml ships it


def images(count=50, seed=0):
    return np.random.default_rng(seed).random((count, 28, 28, 1)).astype(np.float32)


def square(count=20):
    """A bright 12x12 square in the middle of empty 28x28 images."""
    x = np.zeros((count, 28, 28, 1), np.float32)
    x[:, 8:20, 8:20] = 1.0
    return x


@pytest.mark.parametrize("augmentation", [{**NONE, "shift": 2, "flip": True}, {**NONE, "rotate": 10, "zoom": 0.1},
                                          {"shift": 1, "rotate": 15, "zoom": 0.2, "flip": True}])
def test_same_seed_same_images_and_shape_kept(augmentation):
    x = images()
    first = augment(x, augmentation, np.random.default_rng(7))
    assert first.shape == x.shape and first.dtype == x.dtype
    np.testing.assert_array_equal(first, augment(x, augmentation, np.random.default_rng(7)))
    assert not np.array_equal(first, augment(x, augmentation, np.random.default_rng(8)))
    assert not np.shares_memory(first, x)


def test_turn_and_resize_left_at_zero_draw_nothing():
    """The default run's images (shift and flip only) are what they were before rotate and zoom existed."""
    x, rng = images(), np.random.default_rng(7)
    expected = flip_images(shift_images(x, 2, rng), rng)
    np.testing.assert_array_equal(augment(x, {**NONE, "shift": 2, "flip": True}, np.random.default_rng(7)), expected)
    assert not augments(NONE) and all(augments({**NONE, name: value})
                                      for name, value in (("shift", 1), ("rotate", 5), ("zoom", 0.1), ("flip", True)))


def test_shift_moves_each_image_within_the_limit_and_fills_zeros():
    x = np.zeros((200, 28, 28, 1), np.float32)
    x[:, 14, 14, 0] = 1.0  # one bright pixel in the middle
    moved = shift_images(x, 2, np.random.default_rng(0))
    rows, columns = np.nonzero(moved[..., 0].reshape(200, 28, 28))[1:]
    assert len(rows) == 200 and set(rows - 14) <= {-2, -1, 0, 1, 2} and set(columns - 14) <= {-2, -1, 0, 1, 2}
    assert len(set(zip(rows, columns))) > 15  # offsets vary per image


def test_shift_zero_is_a_copy_and_flip_mirrors_about_half():
    x = images(400)
    np.testing.assert_array_equal(shift_images(x, 0, np.random.default_rng(0)), x)
    flipped = flip_images(x.copy(), np.random.default_rng(0))
    mirrored = np.array([np.array_equal(a, b[:, ::-1]) for a, b in zip(flipped, x)])
    same = np.array([np.array_equal(a, b) for a, b in zip(flipped, x)])
    assert np.all(mirrored | same) and 150 < mirrored.sum() < 250


@pytest.mark.parametrize("shift", [1, 2, 4])
def test_a_pixel_sum_is_kept_when_the_border_is_empty(shift):
    np.testing.assert_allclose(augment(square(), {**NONE, "shift": shift, "flip": True},
                                       np.random.default_rng(1)).sum(axis=(1, 2, 3)), 144)


def test_warp_no_turn_is_the_image_and_quarter_turns_are_rot90():
    x = images(6)
    np.testing.assert_array_equal(warp_images(x.copy(), np.zeros(6), np.ones(6)), x)
    quarter = warp_images(x.copy(), np.full(6, 90.0), np.ones(6))
    np.testing.assert_allclose(quarter, np.rot90(x, -1, axes=(1, 2)), atol=1e-5)  # clockwise, rows down
    np.testing.assert_allclose(warp_images(x.copy(), np.full(6, -90.0), np.ones(6)), np.rot90(x, 1, axes=(1, 2)),
                               atol=1e-5)
    flat = images(6)[..., 0]  # no channel axis works too
    np.testing.assert_allclose(warp_images(flat.copy(), np.full(6, 180.0), np.ones(6)), flat[:, ::-1, ::-1], atol=1e-5)


def test_warp_resizes_about_the_centre_and_fills_zeros():
    x = square(3)
    larger = warp_images(x.copy(), np.zeros(3), np.full(3, 1.5))  # 12 -> 18 pixels wide: rows 5..22
    np.testing.assert_allclose(larger.sum(axis=(1, 2, 3)), 18 * 18, rtol=0.02)
    assert np.all(larger[:, 7:21, 7:21] == 1) and np.all(larger[:, :4] == 0) and np.all(larger[:, 24:] == 0)
    smaller = warp_images(x.copy(), np.zeros(3), np.full(3, 0.5))  # 12 -> 6 pixels wide
    np.testing.assert_allclose(smaller.sum(axis=(1, 2, 3)), 6 * 6, rtol=0.05)
    everything = warp_images(np.ones((2, 28, 28, 1), np.float32), np.full(2, 45.0), np.ones(2))
    assert everything[:, 0, 0, 0].max() == 0 and everything[:, 14, 14, 0].min() == 1  # corners turn in from outside


def test_turns_stay_within_the_limit():
    x = np.zeros((300, 28, 28, 1), np.float32)
    x[:, 13:15, 2:26] = 1.0  # a horizontal bar through the centre
    turned = augment(x, {**NONE, "rotate": 20}, np.random.default_rng(0))[..., 0]
    angles = []
    for image in turned:  # the bar's slope, fitted through its bright pixels
        rows, columns = np.nonzero(image > 0.5)
        angles.append(np.degrees(np.arctan(np.polyfit(columns, rows, 1)[0])))
    angles = np.abs(angles)
    assert angles.max() <= 21 and angles.max() > 17 and np.median(angles) > 5  # spread over the whole range


def test_order_picks_and_orders_the_images_before_they_move():
    x = images(30)
    order = np.random.default_rng(3).permutation(30)[:20]
    np.testing.assert_array_equal(augment(x, NONE, np.random.default_rng(0), order), x[order])
    moved = augment(x, {**NONE, "shift": 1}, np.random.default_rng(0), order)
    assert moved.shape == (20, 28, 28, 1)
    np.testing.assert_array_equal(moved, shift_images(x[order], 1, np.random.default_rng(0)))
