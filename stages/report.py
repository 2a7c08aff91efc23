"""Stage report: every figure and table of the studies in reports/report.md and a
self-contained reports/report.html (images embedded), plus reports/per_class.csv."""
import os

import pipeline.quiet_keras  # noqa: F401  (first: Keras without TensorFlow's start-up log)

import numpy as np
import yaml

from pipeline import plots, prepared
from pipeline.document import table, to_html, to_markdown
from pipeline.errors import run_main
from pipeline.files import atomic_path, read_json, write_text
from pipeline.members import load_member, load_record
from pipeline.metrics import ENSEMBLE_METHODS
from pipeline.options import SPLITS
from pipeline.params import load_params
from pipeline.results import ensemble_metrics, members_table, per_class_table, training_curves
from pipeline.paths import (FIGURES_DIR, MEMBERS_SUMMARY, PER_CLASS, PREDICTIONS, PREPARED_DIR, REPORT_HTML,
                            REPORT_MD, REPORTS_DIR, timing_path)


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
        "training_curves": plots.training_curves(curves),
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


def main(argv=None):
    params = load_params()
    data = prepared.load(PREPARED_DIR)
    names = data["meta"]["class_names"]
    loaded = {member: load_record(member) for member in params["members"]}
    histories = {member: history for member, (history, _) in loaded.items()}
    records = {member: record for member, (_, record) in loaded.items()}
    with np.load(PREDICTIONS) as stored:  # the members' probabilities, as the ensemble stage combined them
        metrics, probabilities = ensemble_metrics(stored["train"], stored["test"], data["y_train"], data["y_test"],
                                                  params["ensemble"]["method"])
        # the members' table and curves, computed as evaluate computed reports/members.csv and training_curves.csv
        members = members_table(histories, records, stored["test"], data["y_test"])
    curves = training_curves(histories)
    first_member = params["members"][0]
    model = load_member(first_member)
    figure = draw_figures(params, data, curves, probabilities, model)

    per_class = per_class_table(data["y_test"], np.argmax(probabilities, axis=1), names)
    with atomic_path(PER_CLASS) as temporary:
        per_class.to_csv(temporary, index_label="class", float_format="%.5f")
    stages = ["fetch", "prepare", *(f"train_{member}" for member in params["members"]), "evaluate", "ensemble", "export"]
    timings = [read_json(path) for path in (timing_path(stage) for stage in stages)
               if os.path.exists(path)]
    ensemble, member_stats, meta = metrics["ensemble"], metrics["members"], data["meta"]
    training = read_json(MEMBERS_SUMMARY)["training"]
    shown_params = {key: value for key, value in params.items() if key != "architectures"}
    shown_params["architectures"] = {params["arch"]: params["architectures"][params["arch"]]}

    blocks = [
        ("heading", f"{meta['dataset']}: an ensemble of {ensemble['members']} CNNs ({params['arch']})"),
        ("paragraph", f"{meta['num_train']} training images ({SPLITS[params['split']]}), "
                      f"{meta['num_test']} test images" + (f", limit {meta['limit']}." if meta["limit"] else ".")),
        ("subheading", f"Ensemble ({ENSEMBLE_METHODS[params['ensemble']['method']].description})"),
        ("table", ["", "accuracy", "loss"],
         [["train", f"{ensemble['train_accuracy']:.4f}", f"{ensemble['train_loss']:.5f}"],
          ["test", f"{ensemble['test_accuracy']:.4f}", f"{ensemble['test_loss']:.5f}"]]),
        ("paragraph", f"Test accuracy gain: {100 * ensemble['gain_over_mean_member']:+.2f} points over the average "
                      f"member ({member_stats['mean_test_accuracy']:.4f}), {100 * ensemble['gain_over_best_member']:+.2f}"
                      f" points over the best member ({member_stats['best_test_accuracy']:.4f})."),
        ("subheading", "Members"),
        ("paragraph", ("Best epoch (highest validation accuracy)" if params["train"]["keep_best"] else
                       "Last epoch (keep_best is off)") + " and the loss and accuracy logged there (training "
                      "figures with dropout on); test figures use the weights kept from that epoch."),
        table(members, "member"),
        ("subheading", "Per class (ensemble, test set)"),
        table(per_class, "class"),
        ("image", "Confusion matrix of the ensemble on the test set (counts)", figure["confusion_matrix"]),
        ("image", "Which classes are confused: share of each actual class predicted as another", figure["error_matrix"]),
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
    write_text(REPORT_MD, to_markdown(blocks))
    write_text(REPORT_HTML, to_html(blocks, blocks[0][1], REPORTS_DIR))
    print(f"report: {REPORT_MD}, {REPORT_HTML}, {len(figure)} figures in {FIGURES_DIR}/")


if __name__ == "__main__":
    run_main(main)
