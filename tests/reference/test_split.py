"""numnet_ref.train_test_split (NumPy only, used by Network.fit) gives exactly sklearn's split."""

import numpy as np
import pytest
from sklearn.model_selection import train_test_split as sklearn_split

from numnet_ref import train_test_split


@pytest.mark.parametrize("n", [2, 3, 7, 10, 100, 1200, 1001])
@pytest.mark.parametrize("test_size", [0.1, 0.2, 0.25, 0.3, 0.33, 0.5, 0.75, 0.9, 1, 2])
def test_same_split_as_sklearn(n, test_size):
    if isinstance(test_size, int) and test_size >= n:
        pytest.skip("test_size larger than the data")
    if isinstance(test_size, float) and n - int(np.ceil(test_size * n)) <= 0:
        pytest.skip("no training samples left")
    x = np.arange(n * 3, dtype=float).reshape(n, 3)
    y = np.eye(4)[np.arange(n) % 4]
    ours = train_test_split(x, y, test_size=test_size, random_state=42)
    theirs = sklearn_split(x, y, test_size=test_size, random_state=42)
    assert len(ours) == len(theirs) == 4
    for a, b in zip(ours, theirs):
        assert a.shape == b.shape
        np.testing.assert_array_equal(a, b)


def test_other_random_state_and_4d_inputs():
    x = np.random.default_rng(0).normal(size=(50, 1, 4, 4))
    y = np.arange(50)
    for seed in (0, 1, 123):
        for a, b in zip(train_test_split(x, y, 0.25, seed), sklearn_split(x, y, test_size=0.25, random_state=seed)):
            np.testing.assert_array_equal(a, b)


def test_bad_sizes_are_refused():
    x = np.zeros((5, 2))
    for bad in (0.0, 1.0, 5, 0):
        with pytest.raises(ValueError):
            train_test_split(x, x, test_size=bad)
