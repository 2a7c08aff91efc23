"""Loss and accuracy from predicted probabilities, computed the way Keras does."""
from typing import Callable, NamedTuple

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


def vote_probabilities(member_probabilities):
    """Majority vote as a distribution: each member's predicted class gets one vote.

    Half of one extra vote is split by the members' mean probabilities. It is less than a
    whole vote, so it only decides ties (for the class the members trust more), and each
    row still sums to 1, so accuracy and loss are computed as for `mean`.
    """
    member_probabilities = np.asarray(member_probabilities, dtype=np.float64)
    num_members, _, num_classes = member_probabilities.shape
    votes = np.eye(num_classes)[np.argmax(member_probabilities, axis=-1)].sum(axis=0)
    return (votes + 0.5 * member_probabilities.mean(axis=0)) / (num_members + 0.5)


class EnsembleMethod(NamedTuple):
    combine: Callable  # members' probabilities (members, images, classes) -> the ensemble's (images, classes)
    description: str  # how the report names it


# ensemble.method -> its method: adding one is one entry here
ENSEMBLE_METHODS = {"mean": EnsembleMethod(average_probabilities, "mean of the members' softmax outputs"),
                    "vote": EnsembleMethod(vote_probabilities, "majority vote of the members")}
