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


TIE_BREAK = 0.5  # of one vote, split by the members' mean probabilities: less than a vote, so it only breaks ties


def vote_probabilities(member_probabilities, ops=None):
    """Majority vote as a distribution: each member's predicted class gets one vote.

    TIE_BREAK of one extra vote is split by the members' mean probabilities. It is less than a
    whole vote, so it only decides ties (for the class the members trust more), and each
    row still sums to 1, so accuracy and loss are computed as for `mean`. `ops`: None for NumPy
    (in float64), or keras.ops for the exported model's layer (pipeline.ensemble_model.MajorityVote),
    so that the formula is written once.
    """
    if ops is None:
        ops, member_probabilities = np, np.asarray(member_probabilities, dtype=np.float64)
        one_hot = lambda classes, count: np.eye(count)[classes]  # noqa: E731  (NumPy has no one_hot)
    else:
        one_hot = ops.one_hot
    num_members, num_classes = member_probabilities.shape[0], member_probabilities.shape[-1]
    votes = ops.sum(one_hot(ops.argmax(member_probabilities, axis=-1), num_classes), axis=0)
    return (votes + TIE_BREAK * ops.mean(member_probabilities, axis=0)) / (num_members + TIE_BREAK)


class EnsembleMethod(NamedTuple):
    combine: Callable  # members' probabilities (members, images, classes) -> the ensemble's (images, classes)
    description: str  # how the report names it


# ensemble.method -> its method: adding one is one entry here
ENSEMBLE_METHODS = {"mean": EnsembleMethod(average_probabilities, "mean of the members' softmax outputs"),
                    "vote": EnsembleMethod(vote_probabilities, "majority vote of the members")}
