"""How a member predicts, wherever a prediction is made (evaluate, export, predict): batch size and
test-time augmentation (`ensemble.tta`), one definition for NumPy inputs and inside the exported model.

With `ensemble.tta` each member's prediction is the mean of its softmax outputs on the image
itself and on each listed view of it; the ensemble then combines the members as
`ensemble.method` says. The views are moves of the whole image, made with Keras ops so that the
exported model computes exactly what evaluate computed (the layer is pipeline.ensemble_model.View).
Keras is imported only inside the functions: the check stage reads VIEWS without starting it.
"""
import numpy as np

PREDICT_BATCH_SIZE = 1024  # inference only: larger batches are faster and use little memory at 28x28
SHIFTS = {"left": (0, -1), "right": (0, 1), "up": (-1, 0), "down": (1, 0)}  # one pixel (rows, columns), zeros in
VIEWS = ("flip", *SHIFTS)  # flip: mirrored left to right (right for clothing, wrong for digits)


def view(images, name):
    """`images` (N, H, W, C) seen as `name` says (VIEWS): a Keras tensor, for NumPy and symbolic inputs alike."""
    from pipeline.runtime.quiet_keras import keras

    if name == "flip":
        return keras.ops.flip(images, axis=2)
    rows, columns = SHIFTS[name]
    height, width = images.shape[1], images.shape[2]
    keep = np.ones((height, width), dtype="float32")  # the row or column that rolled over becomes background
    if rows:
        keep[0 if rows > 0 else -1, :] = 0
    if columns:
        keep[:, 0 if columns > 0 else -1] = 0
    moved = keras.ops.roll(images, shift=(rows, columns), axis=(1, 2))
    return moved * keras.ops.cast(keep[None, :, :, None], moved.dtype)


def predict_member(model, images, tta=(), batch_size=PREDICT_BATCH_SIZE, progress=None):
    """float32 (N, classes): `model`'s softmax outputs on `images`, averaged over the image and its `tta` views;
    `progress(n)` after each batch of n images, once per view (see `images_done`)."""
    from pipeline.runtime.quiet_keras import keras

    callbacks = [images_done(progress)] if progress is not None else []
    outputs = [model.predict(images, batch_size=batch_size, verbose=0, callbacks=callbacks)]
    for name in tta:
        outputs.append(model.predict(keras.ops.convert_to_numpy(view(images, name)), batch_size=batch_size,
                                     verbose=0, callbacks=callbacks))
    return outputs[0] if len(outputs) == 1 else np.mean(np.stack(outputs).astype(np.float32), axis=0)


def images_done(update):
    """A Keras callback for model.predict that calls `update(n)` after each batch of n images (a progress bar's
    update: tqdm's, which draws only on a terminal)."""
    from pipeline.runtime.quiet_keras import keras

    class ImagesDone(keras.callbacks.Callback):
        def on_predict_batch_end(self, batch, logs=None):
            update(int(keras.tree.flatten(logs["outputs"])[0].shape[0]))

    return ImagesDone()
