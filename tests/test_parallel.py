"""pipeline.runtime.side_by_side's CPU split (the end-to-end run is in test_pipeline.py)."""
import pytest

from pipeline.runtime.errors import PipelineError
from pipeline.runtime.side_by_side import cpu_shares


def test_the_cpus_are_split_into_disjoint_shares():
    assert cpu_shares(2, 1, {0, 1}) == [{0}, {1}]
    assert cpu_shares(2, 2, {3, 0, 1, 2, 4}) == [{0, 1}, {2, 3}]


def test_more_threads_than_cpus_is_refused():
    with pytest.raises(PipelineError, match=r"--jobs 3: 3 x train.threads 1 = 3 CPUs, but this process may use 2"):
        cpu_shares(3, 1, {0, 1})
