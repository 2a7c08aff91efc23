import numpy as np

from pipeline.plots import confusion_counts, error_rates
from pipeline.report import to_html, to_markdown


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


