import numpy as np
import pytest

from pipeline.metrics import accuracy, average_probabilities, log_loss, vote_probabilities
from pipeline.results import ensemble_metrics

# Two members, three test images, three classes.
MEMBER_A = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.5, 0.4, 0.1]])
MEMBER_B = np.array([[0.3, 0.6, 0.1], [0.2, 0.6, 0.2], [0.2, 0.7, 0.1]])
LABELS = np.array([0, 1, 1])


def test_average_is_the_elementwise_mean_of_member_probabilities():
    expected = np.array([[0.5, 0.4, 0.1], [0.15, 0.45, 0.4], [0.35, 0.55, 0.1]])  # by hand
    np.testing.assert_allclose(average_probabilities([MEMBER_A, MEMBER_B]), expected)


def test_accuracy_and_log_loss_by_hand():
    assert accuracy(MEMBER_A, LABELS) == pytest.approx(1 / 3)  # only image 0 right
    assert log_loss(MEMBER_A, LABELS) == pytest.approx(-(np.log(0.7) + np.log(0.3) + np.log(0.4)) / 3)
    assert log_loss(np.array([[1.0, 0.0]]), np.array([1])) == pytest.approx(-np.log(1e-7))  # clipped


def test_ensemble_metrics_by_hand():
    members = np.stack([MEMBER_A, MEMBER_B])
    metrics, ensemble = ensemble_metrics(members, members, LABELS, LABELS)
    # Ensemble rows argmax: 0, 1, 1 -> all three right; members: A 1/3, B 2/3.
    assert metrics["ensemble"]["test_accuracy"] == 1.0
    assert metrics["members"]["mean_test_accuracy"] == pytest.approx(0.5)
    assert metrics["members"]["best_test_accuracy"] == pytest.approx(2 / 3)
    assert metrics["ensemble"]["gain_over_mean_member"] == pytest.approx(0.5)
    assert metrics["ensemble"]["gain_over_best_member"] == pytest.approx(1 / 3)
    assert metrics["ensemble"]["test_loss"] == pytest.approx(-(np.log(0.5) + np.log(0.45) + np.log(0.55)) / 3)
    assert ensemble.shape == (3, 3)


def test_vote_counts_each_members_class_and_breaks_ties_by_mean_probability():
    members = np.array([
        [[0.6, 0.4, 0.0], [0.5, 0.0, 0.5]],
        [[0.6, 0.4, 0.0], [0.0, 0.9, 0.1]],
        [[0.1, 0.9, 0.0], [0.0, 0.3, 0.7]],
    ])
    votes = vote_probabilities(members)
    np.testing.assert_allclose(votes.sum(axis=1), 1.0)
    # image 0: classes 0, 0, 1 -> class 0 wins 2:1 although the mean probability prefers class 1 (0.567 vs 0.433)
    assert np.argmax(votes[0]) == 0 and np.argmax(average_probabilities(members)[0]) == 1
    np.testing.assert_allclose(votes[0], (np.array([2, 1, 0]) + 0.5 * members[:, 0].mean(axis=0)) / 3.5)
    # image 1: one vote each for 0, 1, 2 -> tie, broken by the mean probability (class 2: 0.433)
    assert np.argmax(votes[1]) == 2
