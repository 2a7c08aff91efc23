import numpy as np
import pytest

from pipeline.document import to_html, to_markdown
from pipeline.errors import PipelineError
from pipeline.plots import confusion_counts, error_rates
from pipeline.results import read_predictions


def test_confusion_counts_and_error_rates_by_hand():
    actual = np.array([0, 0, 0, 1, 1, 2])
    predicted = np.array([0, 1, 1, 1, 1, 0])
    counts = confusion_counts(actual, predicted, 3)
    np.testing.assert_array_equal(counts, [[1, 2, 0], [0, 2, 0], [1, 0, 0]])
    np.testing.assert_allclose(error_rates(counts), [[0, 2 / 3, 0], [0, 0, 0], [1, 0, 0]])


def test_markdown_and_html_show_the_same_blocks(tmp_path):
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "a.png").write_bytes(b"\x89PNG fake")
    blocks = [("heading", "Title <1>"), ("subheading", "Part"), ("paragraph", "Some & text"),
              ("table", ["name", "value"], [["x", "1.0000"]]), ("image", "A figure", "figures/a.png"),
              ("code", "key: value\n")]
    markdown = to_markdown(blocks)
    assert markdown.splitlines()[:4] == ["# Title <1>", "", "## Part", ""]
    assert "| name | value |\n|---|---|\n| x | 1.0000 |" in markdown
    assert "![A figure](figures/a.png)" in markdown and "```\nkey: value\n```" in markdown
    page = to_html(blocks, "Title", str(tmp_path))
    assert "<h1>Title &lt;1&gt;</h1>" in page and "<p>Some &amp; text</p>" in page
    assert "<td>x</td><td>1.0000</td>" in page and "data:image/png;base64,iVBORyBmYWtl" in page


def test_read_predictions_keeps_digit_class_names_as_text(tmp_path):
    """MNIST's class names are "0".."9": they must not be parsed as integers."""
    path = tmp_path / "test_predictions.csv"
    path.write_text("index,actual,predicted,p_0,p_1\n0,1,0,0.6,0.4\n1,0,0,0.9,0.1\n")
    predictions, probabilities = read_predictions(str(path), ["0", "1"])
    assert predictions["actual_id"].tolist() == [1, 0] and predictions["predicted_id"].tolist() == [0, 0]
    np.testing.assert_allclose(probabilities, [[0.6, 0.4], [0.9, 0.1]])
    with pytest.raises(PipelineError, match=r"test_predictions.csv: labels \['1'\] are not among the classes \['0'\]"):
        read_predictions(str(path), ["0"])
