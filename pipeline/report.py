"""A report as a list of blocks, rendered to Markdown and to self-contained HTML.

Blocks: ("heading", text), ("subheading", text), ("paragraph", text),
("table", header, rows), ("image", caption, path relative to the report), ("code", text).
One list feeds both renderers, so the two files always show the same content.
"""
import base64
import html
import os

import numpy as np
import yaml

from pipeline import plots
from pipeline.metrics import ENSEMBLE_METHODS
from pipeline.options import SPLITS
from pipeline.paths import FIGURES_DIR, REPORTS_DIR

STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}img{max-width:100%;height:auto}
figure{margin:1em 0}figcaption{color:#555;font-size:14px}pre{background:#f6f6f6;padding:1em;overflow:auto}"""


def to_markdown(blocks):
    lines = []
    for kind, *content in blocks:
        if kind == "heading":
            lines += [f"# {content[0]}", ""]
        elif kind == "subheading":
            lines += [f"## {content[0]}", ""]
        elif kind == "paragraph":
            lines += [content[0], ""]
        elif kind == "table":
            header, rows = content
            lines.append("| " + " | ".join(header) + " |")
            lines.append("|" + "---|" * len(header))
            lines += ["| " + " | ".join(row) + " |" for row in rows]
            lines.append("")
        elif kind == "image":
            caption, path = content
            lines += [f"![{caption}]({path})", ""]
        elif kind == "code":
            lines += ["```", content[0].rstrip("\n"), "```", ""]
        else:
            raise ValueError(f"unknown block kind {kind!r}")
    return "\n".join(lines)


def to_html(blocks, title, base_directory):
    """One HTML file with every image embedded as a data URI: it opens offline, alone."""
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{STYLE}</style></head><body>"]
    for kind, *content in blocks:
        if kind == "heading":
            parts.append(f"<h1>{html.escape(content[0])}</h1>")
        elif kind == "subheading":
            parts.append(f"<h2>{html.escape(content[0])}</h2>")
        elif kind == "paragraph":
            parts.append(f"<p>{html.escape(content[0])}</p>")
        elif kind == "table":
            header, rows = content
            head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
            body = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif kind == "image":
            caption, path = content
            with open(os.path.join(base_directory, path), "rb") as handle:
                data = base64.b64encode(handle.read()).decode("ascii")
            parts.append(f"<figure><img src='data:image/png;base64,{data}' alt='{html.escape(caption)}'>"
                         f"<figcaption>{html.escape(caption)}</figcaption></figure>")
        elif kind == "code":
            parts.append(f"<pre>{html.escape(content[0])}</pre>")
        else:
            raise ValueError(f"unknown block kind {kind!r}")
    parts.append("</body></html>")
    return "\n".join(parts)


def number(column, value):
    """The notebook's precision: epochs to 0.1, losses to 5 places, the rest to 4."""
    if column == "best_epoch":
        return f"{value:.1f}"
    if column == "support":
        return f"{int(value):,}"
    return f"{value:.5f}" if column.endswith("loss") else f"{value:.4f}"


def table(frame, index_name):
    """A ("table", header, rows) block from a DataFrame, its index as the first column."""
    rows = [[str(index)] + [number(column, value) for column, value in row.items()] for index, row in frame.iterrows()]
    return ("table", [index_name, *map(str, frame.columns)], rows)


def model_table(model):
    rows = [(layer.name, layer.__class__.__name__, str(tuple(layer.output.shape)), layer.count_params())
            for layer in model.layers]
    rows.append(("total", "", "", model.count_params()))
    return ("table", ["layer", "type", "output shape", "parameters"],
            [[name, kind, shape, f"{count:,}"] for name, kind, shape, count in rows])


def draw_figures(params, data, curves, probabilities, model):
    """Write every PNG; return {key: path relative to reports/}. `probabilities`: the ensemble's on the test set."""
    names, dpi, settings = data["meta"]["class_names"], params["report"]["dpi"], params["report"]
    actual, predicted = data["y_test"], np.argmax(probabilities, axis=1)
    counts = plots.confusion_counts(actual, predicted, len(names))
    figures = {
        "samples": plots.sample_grid(data["x_train"], data["y_train"], names, settings["samples_per_class"]),
        "class_means": plots.class_means(data["x_train"], data["y_train"], names),
        "training_curves": plots.curves_figure(curves),
        "confusion_matrix": plots.matrix_figure(counts, names, "Ensemble on the test set: counts", str, "Blues"),
        "error_matrix": plots.matrix_figure(plots.error_rates(counts), names,
                                            "Share of each actual class predicted as another (diagonal zeroed)",
                                            lambda value: f"{value:.2f}" if value else "", "Reds"),
        "misclassified": plots.misclassified(data["x_test"], actual, predicted, probabilities, names,
                                             settings["misclassified"]),
        "weights": plots.weight_violins(model),
    }
    for key, figure in figures.items():
        plots.save(figure, os.path.join(FIGURES_DIR, f"{key}.png"), dpi)
    return {key: os.path.relpath(os.path.join(FIGURES_DIR, f"{key}.png"), REPORTS_DIR) for key in figures}


def report_blocks(params, meta, metrics, members, per_class, figure, model, training, timings):
    """The report's blocks: `metrics` (pipeline.results.ensemble_metrics), the `members` and `per_class` tables,
    `figure` {key: path} (draw_figures), the first member's `model`, how the members trained (`training`,
    pipeline.acceleration.summarise_training) and the stages' `timings`."""
    ensemble, member_stats = metrics["ensemble"], metrics["members"]
    first_member = params["members"][0]
    shown_params = {key: value for key, value in params.items() if key != "architectures"}
    shown_params["architectures"] = {params["arch"]: params["architectures"][params["arch"]]}
    return [
        ("heading", f"{meta['dataset']}: an ensemble of {ensemble['members']} CNNs ({params['arch']})"),
        ("paragraph", f"{meta['num_train']} training images ({SPLITS[params['split']]}), "
                      f"{meta['num_test']} test images" + (f", limit {meta['limit']}." if meta["limit"] else ".")),
        ("subheading", f"Ensemble ({ENSEMBLE_METHODS[params['ensemble']['method']].description})"),
        ("table", ["", "accuracy", "loss"],
         [["train", f"{ensemble['train_accuracy']:.4f}", f"{ensemble['train_loss']:.5f}"],
          ["test", f"{ensemble['test_accuracy']:.4f}", f"{ensemble['test_loss']:.5f}"]]),
        ("paragraph", f"Test accuracy gain: {100 * ensemble['gain_over_mean_member']:+.2f} points over the average "
                      f"member ({member_stats['mean_test_accuracy']:.4f}), "
                      f"{100 * ensemble['gain_over_best_member']:+.2f}"
                      f" points over the best member ({member_stats['best_test_accuracy']:.4f})."),
        ("subheading", "Members"),
        ("paragraph", ("Best epoch (highest validation accuracy)" if params["train"]["keep_best"] else
                       "Last epoch (keep_best is off)") + " and the loss and accuracy logged there (training "
                      "figures with dropout on); test figures use the weights kept from that epoch."),
        table(members, "member"),
        ("subheading", "Per class (ensemble, test set)"),
        table(per_class, "class"),
        ("image", "Confusion matrix of the ensemble on the test set (counts)", figure["confusion_matrix"]),
        ("image", "Which classes are confused: share of each actual class predicted as another",
         figure["error_matrix"]),
        ("image", "First misclassified test images", figure["misclassified"]),
        ("subheading", "Training"),
        ("image", "Loss and accuracy per epoch, every member", figure["training_curves"]),
        ("subheading", "Data"),
        ("image", "First training images of every class", figure["samples"]),
        ("image", "Mean training image of every class", figure["class_means"]),
        ("subheading", f"Model: {params['arch']} (member {first_member})"),
        model_table(model),
        ("image", "Kernel weight distribution per layer", figure["weights"]),
        ("subheading", "Run"),
        ("paragraph", "Trained with Keras on {backend}, device {device}, precision {precision}; XLA jit_compile "
                      "{jit_compile}, steps_per_execution {steps_per_execution}, validation_batch_size "
                      "{validation_batch_size} (train.accelerate: {accelerate}).".format(
                          **training, accelerate=params["train"]["accelerate"])),
        ("paragraph", "Wall time of each stage's work (Python start-up and imports, a few seconds each, excluded):"),
        ("table", ["stage", "seconds"], [[t["stage"], f"{t['wall_time_s']:.1f}"] for t in timings]),
        ("paragraph", "Parameters (params.yaml):"),
        ("code", yaml.safe_dump(shown_params, sort_keys=False, default_flow_style=None)),
    ]
