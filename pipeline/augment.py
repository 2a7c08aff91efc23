"""Random translation and horizontal flip of training images, on the host with NumPy.

Keras' RandomTranslation layer was far too slow under a compiled backend; NumPy moves a
whole epoch of 28x28 images in a fraction of a second (benchmarks/augment_speed.py). Every
draw comes from the `rng` passed in, so the same seed gives the same images.
"""
import numpy as np

CHUNK = 4096  # images padded at a time: the temporaries stay small beside the one augmented copy


def shift_images(images, shift, rng, order=None):
    """images[order] (N, H, W, ...), each moved by up to `shift` pixels up/down and left/right, zeros filling in.

    `order` (default: all, in order) picks and orders the images; the result is always a new array.
    """
    order = np.arange(len(images)) if order is None else order
    if shift == 0:
        return images[order]
    height, width = images.shape[1:3]
    offsets = rng.integers(0, 2 * shift + 1, size=(len(order), 2))  # where each crop starts in the padded image
    moved = np.empty((len(order), *images.shape[1:]), images.dtype)
    padding = [(0, 0), (shift, shift), (shift, shift)] + [(0, 0)] * (images.ndim - 3)
    for start in range(0, len(order), CHUNK):
        stop = min(start + CHUNK, len(order))
        padded = np.pad(images[order[start:stop]], padding)
        rows = offsets[start:stop, 0, None] + np.arange(height)  # (n, H)
        columns = offsets[start:stop, 1, None] + np.arange(width)  # (n, W)
        index = np.arange(stop - start)[:, None, None]
        moved[start:stop] = padded[index, rows[:, :, None], columns[:, None, :]]
    return moved


def flip_images(images, rng):
    """Half of the images (drawn independently) mirrored left to right, in place."""
    flipped = rng.random(len(images)) < 0.5
    images[flipped] = images[flipped, :, ::-1]
    return images


def augment(images, shift, flip, rng, order=None):
    """A new array: images[order] shifted by up to `shift` pixels, and half of them mirrored if `flip`."""
    moved = shift_images(images, shift, rng, order)
    return flip_images(moved, rng) if flip else moved
