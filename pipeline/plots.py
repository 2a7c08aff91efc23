"""The report's figures, drawn with matplotlib's file-only backend; class names, not ids."""
import math

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from pipeline.runtime.files import atomic_path


def subplots(*grid, figsize, **options):
    """(figure, axes) as pyplot.subplots gives them, without pyplot: a Figure renders to a file with no display and
    no global backend, and is freed with its last reference."""
    figure = Figure(figsize=figsize)
    return figure, figure.subplots(*grid, **options)


def save(figure, path, dpi):
    """Write `figure` as PNG atomically."""
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=dpi, format="png", bbox_inches="tight")


def confusion_counts(actual, predicted, num_classes):
    """counts[i, j]: test images of class i predicted as class j."""
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (actual, predicted), 1)
    return counts


def error_rates(counts):
    """Row-normalised confusion (share of each actual class) with the diagonal zeroed."""
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    np.fill_diagonal(rates, 0.0)
    return rates


def matrix_figure(values, class_names, title, cell_format, colormap):
    """A heat map with every cell's value written in it."""
    size = 1.0 + 0.7 * len(class_names)
    figure, axes = subplots(figsize=(size + 1.5, size))
    image = axes.imshow(values, cmap=colormap)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    ticks = np.arange(len(class_names))
    axes.set_xticks(ticks, class_names, rotation=45, ha="right")
    axes.set_yticks(ticks, class_names)
    axes.set_xlabel("Predicted")
    axes.set_ylabel("Actual")
    axes.set_title(title)
    threshold = values.max() / 2 if values.max() > 0 else 1
    for i in range(len(class_names)):
        for j in range(len(class_names)):
            axes.text(j, i, cell_format(values[i, j]), ha="center", va="center", fontsize=8,
                      color="white" if values[i, j] > threshold else "black")
    return figure


def sample_grid(images, labels, class_names, per_class):
    """The first `per_class` training images of every class, one row per class."""
    figure, axes = subplots(len(class_names), per_class, figsize=(per_class * 0.9 + 1.5, len(class_names) * 0.9),
                            squeeze=False)
    for row, name in enumerate(class_names):
        indices = np.flatnonzero(labels == row)[:per_class]
        for column in range(per_class):
            axes[row, column].axis("off")
            if column < len(indices):
                axes[row, column].imshow(images[indices[column], ..., 0], cmap="gray_r", vmin=0, vmax=1)
        axes[row, 0].text(-0.15, 0.5, name, transform=axes[row, 0].transAxes, ha="right", va="center", fontsize=10)
    figure.suptitle(f"First {per_class} training images of every class")
    return figure


def class_means(images, labels, class_names):
    """The mean training image of every class."""
    columns = min(5, len(class_names))
    rows = math.ceil(len(class_names) / columns)
    figure, axes = subplots(rows, columns, figsize=(columns * 2.0, rows * 2.2), squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index < len(class_names):
            members = images[labels == index]
            if len(members):
                axis.imshow(members.mean(axis=0)[..., 0], cmap="gray_r", vmin=0, vmax=1)
            axis.set_title(f"{class_names[index]} ({len(members)})", fontsize=10)
    figure.suptitle("Mean training image of every class (image count)")
    return figure


def curves_figure(curves):
    """Loss and accuracy per epoch of every member: solid training, dashed validation."""
    figure, axes = subplots(1, 2, figsize=(12, 4.5))
    colors = matplotlib.colormaps["tab10"]
    for index, (member, rows) in enumerate(curves.groupby("member")):
        color = colors(index % 10)
        for axis, metric in zip(axes, ("loss", "accuracy")):
            axis.plot(rows["epoch"], rows[metric], color=color, label=f"member {member}")
            if rows[f"val_{metric}"].notna().any():  # no validation curve with split: none
                axis.plot(rows["epoch"], rows[f"val_{metric}"], color=color, linestyle="--")
    for axis, metric in zip(axes, ("Loss", "Accuracy")):
        axis.set_xlabel("Epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        axis.set_ylabel(metric)
        axis.set_title(f"{metric} per epoch (solid: training, dashed: validation)")
        axis.grid(alpha=0.3)
    axes[1].legend(loc="lower right", fontsize=8, ncol=2)
    figure.tight_layout()
    return figure


def misclassified(images, actual, predicted, probabilities, class_names, count):
    """The first `count` misclassified test images, with both labels and their probabilities."""
    wrong = np.flatnonzero(actual != predicted)[:count]
    columns = 10
    rows = max(1, math.ceil(len(wrong) / columns))
    figure, axes = subplots(rows, columns, figsize=(columns * 1.75, rows * 2.25), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, index in zip(axes.flat, wrong):
        axis.imshow(images[index, ..., 0], cmap="gray_r", vmin=0, vmax=1)
        axis.set_title(f"true: {class_names[actual[index]]} {probabilities[index, actual[index]]:.2f}\n"
                       f"pred: {class_names[predicted[index]]} {probabilities[index, predicted[index]]:.2f}",
                       fontsize=7.5)
    figure.suptitle(f"First {len(wrong)} misclassified test images (ensemble probability of each label)")
    return figure


def weight_violins(model):
    """Distribution of every layer's kernel weights (biases left out), one violin per layer."""
    names, values = [], []
    for layer in model.layers:
        if layer.weights:
            names.append(f"{layer.name}\n{layer.__class__.__name__}")
            values.append(np.ravel(layer.weights[0].numpy()))
    figure, axis = subplots(figsize=(max(6, 1.1 * len(names)), 4.5))
    if values:
        axis.violinplot(values, showmedians=True)
    axis.set_xticks(np.arange(1, len(names) + 1), names, fontsize=8)
    axis.set_ylabel("Weight value")
    axis.set_title(f"Kernel weights per layer ({model.name})")
    axis.grid(axis="y", alpha=0.3)
    return figure
