"""Figures for the report, drawn with matplotlib's file-only backend."""
import matplotlib

matplotlib.use("Agg")  # no display: write files only
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from pipeline.files import atomic_path  # noqa: E402


def confusion_counts(actual, predicted, num_classes):
    """counts[i, j]: test images of class i predicted as class j."""
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (actual, predicted), 1)
    return counts


def save_confusion_matrix(counts, class_names, path, dpi, title):
    """A heat map of `counts` with the count written in every cell."""
    size = 1.0 + 0.7 * len(class_names)
    figure, axes = plt.subplots(figsize=(size + 1.5, size))
    image = axes.imshow(counts, cmap="Blues")
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    ticks = np.arange(len(class_names))
    axes.set_xticks(ticks, class_names, rotation=45, ha="right")
    axes.set_yticks(ticks, class_names)
    axes.set_xlabel("Predicted")
    axes.set_ylabel("Actual")
    axes.set_title(title)
    threshold = counts.max() / 2
    for i in range(len(class_names)):
        for j in range(len(class_names)):
            axes.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=8,
                      color="white" if counts[i, j] > threshold else "black")
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=dpi, format="png")
    plt.close(figure)
