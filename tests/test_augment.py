import numpy as np
import pytest

from pipeline.augment import augment, flip_images, shift_images


def images(count=50, seed=0):
    return np.random.default_rng(seed).random((count, 28, 28, 1)).astype(np.float32)


def test_same_seed_same_images_and_shape_kept():
    x = images()
    first = augment(x, 2, True, np.random.default_rng(7))
    assert first.shape == x.shape and first.dtype == x.dtype
    np.testing.assert_array_equal(first, augment(x, 2, True, np.random.default_rng(7)))
    assert not np.array_equal(first, augment(x, 2, True, np.random.default_rng(8)))
    assert not np.shares_memory(first, x)


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
    x = np.zeros((20, 28, 28, 1), np.float32)
    x[:, 8:20, 8:20] = 1.0
    np.testing.assert_allclose(augment(x, shift, True, np.random.default_rng(1)).sum(axis=(1, 2, 3)), 144)


def test_order_picks_and_orders_the_images_before_they_move():
    x = images(30)
    order = np.random.default_rng(3).permutation(30)[:20]
    np.testing.assert_array_equal(augment(x, 0, False, np.random.default_rng(0), order), x[order])
    moved = augment(x, 1, False, np.random.default_rng(0), order)
    assert moved.shape == (20, 28, 28, 1)
    np.testing.assert_array_equal(moved, shift_images(x[order], 1, np.random.default_rng(0)))
