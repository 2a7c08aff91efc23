"""Random translation, turn, resize and horizontal flip of training images, on the host with NumPy.

Keras' RandomTranslation layer was far too slow under a compiled backend; NumPy moves a
whole epoch of 28x28 images in a fraction of a second (benchmarks/augment_speed.py). Every
draw comes from the `rng` passed in, so the same seed gives the same images, and a setting
left at 0 draws nothing: adding one does not change the images of the others.
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


def warp_images(images, degrees, factors):
    """Image i turned about its centre by degrees[i] (clockwise as shown, rows down) and resized by factors[i],
    in place; bilinear interpolation, zeros filling in."""
    count, height, width = images.shape[:3]
    angles = np.deg2rad(degrees)
    centre_row, centre_column = (height - 1) / 2, (width - 1) / 2
    rows, columns = np.meshgrid(np.arange(height) - centre_row, np.arange(width) - centre_column, indexing="ij")
    rows, columns = rows.ravel().astype(np.float32), columns.ravel().astype(np.float32)  # each pixel, from the centre
    padding = [(0, 0), (1, 1), (1, 1)] + [(0, 0)] * (images.ndim - 3)  # a ring of zeros to interpolate against
    for start in range(0, count, CHUNK):
        stop = min(start + CHUNK, count)
        cosine = (np.cos(angles[start:stop]) / factors[start:stop]).astype(np.float32)[:, None]
        sine = (np.sin(angles[start:stop]) / factors[start:stop]).astype(np.float32)[:, None]
        # where each output pixel comes from (the inverse turn and resize), in the padded image, kept on it
        source_rows = np.clip(cosine * rows - sine * columns + (centre_row + 1), 0, height + 1)
        source_columns = np.clip(sine * rows + cosine * columns + (centre_column + 1), 0, width + 1)
        top = np.minimum(np.floor(source_rows), height).astype(np.intp)
        left = np.minimum(np.floor(source_columns), width).astype(np.intp)
        down = (source_rows - top)[:, :, None]  # the weights of the lower and of the right neighbours
        across = (source_columns - left)[:, :, None]
        flat = np.pad(images[start:stop], padding).reshape(stop - start, (height + 2) * (width + 2), -1)

        def at(row, column):
            return np.take_along_axis(flat, (row * (width + 2) + column)[:, :, None], axis=1)

        warped = ((1 - down) * ((1 - across) * at(top, left) + across * at(top, left + 1))
                  + down * ((1 - across) * at(top + 1, left) + across * at(top + 1, left + 1)))
        images[start:stop] = warped.reshape(images[start:stop].shape)
    return images


def flip_images(images, rng):
    """Half of the images (drawn independently) mirrored left to right, in place."""
    flipped = rng.random(len(images)) < 0.5
    images[flipped] = images[flipped, :, ::-1]
    return images


def augment(images, augmentation, rng, order=None):
    """A new array: images[order] with params.yaml's `train.augment` applied ({shift, rotate, zoom, flip}):
    shifted by up to `shift` pixels, turned by up to `rotate` degrees and resized by up to `zoom`, and half of
    them mirrored if `flip`."""
    moved = shift_images(images, augmentation["shift"], rng, order)
    rotate, zoom = augmentation["rotate"], augmentation["zoom"]
    if rotate or zoom:
        degrees, factors = rng.uniform(-rotate, rotate, len(moved)), rng.uniform(1 - zoom, 1 + zoom, len(moved))
        moved = warp_images(moved, degrees, factors)
    return flip_images(moved, rng) if augmentation["flip"] else moved


def augments(augmentation):
    """Whether `train.augment` changes the images at all."""
    return any(augmentation.values())
