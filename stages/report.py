"""Stage report: every figure and table of the studies in reports/report.md and a
self-contained reports/report.html (images embedded), plus reports/per_class.csv."""
import os

import numpy as np

from pipeline import prepared
from pipeline.members import ensemble_members, load_member, load_records
from pipeline.params import load_params
from pipeline.paths import (
    FIGURES_DIR,
    MEMBERS_SUMMARY,
    PER_CLASS,
    PREDICTIONS,
    PREPARED_DIR,
    REPORT_HTML,
    REPORT_MD,
    REPORTS_DIR,
    timed_stages,
    timing_path,
)
from pipeline.report import draw_figures, report_blocks, to_html, to_markdown
from pipeline.results import curves_table, ensemble_metrics, members_table, per_class_table
from pipeline.runtime.errors import run_main
from pipeline.runtime.files import atomic_path, read_json, write_text


def main():
    params = load_params()
    data = prepared.load(PREPARED_DIR)
    entries = ensemble_members(params)
    histories, records = load_records(entries)
    with np.load(PREDICTIONS) as stored:  # the members' probabilities, as the ensemble stage combined them
        metrics, probabilities = ensemble_metrics(stored["train"], stored["test"], data["y_train"], data["y_test"],
                                                  params["ensemble"]["method"])
        # the members' table and curves, computed as evaluate computed reports/members.csv and training_curves.csv
        members = members_table(entries, histories, records, stored["test"], data["y_test"])
    model = load_member(entries[entries[0].of - 1])  # the first member's last weights
    figure = draw_figures(params, data, curves_table(histories), probabilities, model)
    per_class = per_class_table(data["y_test"], np.argmax(probabilities, axis=1), data["meta"]["class_names"])
    with atomic_path(PER_CLASS) as temporary:
        per_class.to_csv(temporary, index_label="class", float_format="%.5f")
    timings = [read_json(path) for path in map(timing_path, timed_stages(params["members"])) if os.path.exists(path)]
    blocks = report_blocks(params, data["meta"], metrics, members, per_class, figure, model,
                           read_json(MEMBERS_SUMMARY)["training"], timings)
    write_text(REPORT_MD, to_markdown(blocks))
    write_text(REPORT_HTML, to_html(blocks, blocks[0][1], REPORTS_DIR))
    print(f"report: {REPORT_MD}, {REPORT_HTML}, {len(figure)} figures in {FIGURES_DIR}/")


if __name__ == "__main__":
    run_main(main)
