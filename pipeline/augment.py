"""Random translation and horizontal flip of training images, on the host with NumPy.

Keras' RandomTranslation layer was far too slow under a compiled backend; NumPy moves a
whole epoch of 28x28 images in a fraction of a second. Every draw comes from the `rng`
passed in, so the same seed gives the same images.
"""
import numpy as np

CHUNK = 4096  # images padded at a time: the padded temporaries stay small


def shift_images(images, shift, rng):
    """Each image (N, H, W, ...) moved by up to `shift` pixels up/down and left/right, zeros filling in."""
    if shift == 0:
        return images.copy()
    count, height, width = images.shape[:3]
    offsets = rng.integers(0, 2 * shift + 1, size=(count, 2))  # where each crop starts in the padded image
    moved = np.empty_like(images)
    padding = [(0, 0), (shift, shift), (shift, shift)] + [(0, 0)] * (images.ndim - 3)
    for start in range(0, count, CHUNK):
        stop = min(start + CHUNK, count)
        padded = np.pad(images[start:stop], padding)
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


def augment(images, shift, flip, rng):
    """A new array: `images` shifted by up to `shift` pixels, and mirrored at random if `flip`."""
    moved = shift_images(images, shift, rng)
    return flip_images(moved, rng) if flip else moved
