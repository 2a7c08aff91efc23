"""Loss and accuracy from predicted probabilities, computed the way Keras does."""
import numpy as np

EPSILON = 1e-7  # Keras clips probabilities to [eps, 1 - eps] before the log


def accuracy(probabilities, labels):
    return float(np.mean(np.argmax(probabilities, axis=-1) == labels))


def log_loss(probabilities, labels):
    """Mean categorical cross-entropy of integer `labels` under `probabilities`."""
    picked = probabilities[np.arange(len(labels)), labels]
    return float(-np.mean(np.log(np.clip(picked, EPSILON, 1 - EPSILON))))


def average_probabilities(member_probabilities):
    """The ensemble's prediction: the mean over members (axis 0) of their softmax outputs."""
    return np.mean(np.asarray(member_probabilities, dtype=np.float64), axis=0)
