import numpy as np
import pytest

from unet3d_monai.metrics import compact_labels, component_labels, contingency_table


def dense_table(true: np.ndarray, test: np.ndarray) -> dict[tuple[int, int], int]:
    """Independent count with Python over all voxels."""
    counts: dict[tuple[int, int], int] = {}
    for t, s in zip(true.ravel().tolist(), test.ravel().tolist()):
        counts[(t, s)] = counts.get((t, s), 0) + 1
    return counts


def as_dict(table) -> dict[tuple[int, int], int]:
    return {
        (int(table.true_values[r]), int(table.test_values[c])): int(n)
        for r, c, n in zip(table.rows, table.cols, table.counts)
    }


def test_compact_labels_keeps_order_and_values():
    labels = np.array([[7, 7, 3], [10, 3, 7]])
    compact = compact_labels(labels)
    assert compact.values.tolist() == [3, 7, 10]
    assert compact.index.tolist() == [1, 1, 0, 2, 0, 1]
    assert compact.num_labels == 3


def test_compact_labels_sparse_range_uses_sort_and_agrees():
    labels = np.array([5, -3_000_000_000, 5, 9_000_000_000, -3_000_000_000])
    compact = compact_labels(labels)
    assert compact.values.tolist() == [-3_000_000_000, 5, 9_000_000_000]
    assert compact.index.tolist() == [1, 0, 1, 2, 0]


def test_compact_labels_rejects_floats_and_empty():
    with pytest.raises(ValueError, match="integer"):
        compact_labels(np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="at least one voxel"):
        compact_labels(np.zeros((0, 3), dtype=np.int64))


def test_hand_computed_table():
    table = contingency_table(np.array([1, 1, 2, 2]), np.array([5, 5, 5, 6]))
    assert as_dict(table) == {(1, 5): 2, (2, 5): 1, (2, 6): 1}
    assert table.true_sizes.tolist() == [2, 2]
    assert table.test_sizes.tolist() == [3, 1]


@pytest.mark.parametrize(
    "n_true, n_test, offset",
    [(4, 6, 0), (50, 3, 0), (30, 40, 1_000_000_000)],  # the last one takes the sort paths
)
def test_table_matches_python_count(n_true, n_test, offset):
    rng = np.random.RandomState(n_true)
    true = rng.randint(0, n_true, size=(6, 7, 8)) * (offset + 1)
    test = rng.randint(0, n_test, size=(6, 7, 8)) + offset
    table = contingency_table(true, test)
    assert as_dict(table) == dense_table(true, test)
    assert table.counts.sum() == true.size


def test_table_shape_mismatch():
    with pytest.raises(ValueError, match="equal shape"):
        contingency_table(np.zeros((2, 3), dtype=int), np.zeros((3, 2), dtype=int))


def test_many_labels_take_the_sparse_count_path():
    # 1100 x 1100 label pairs exceed the dense table limit (2**20 cells) for 2200 voxels
    rng = np.random.RandomState(0)
    true = np.concatenate([np.arange(1100), rng.randint(0, 1100, size=1100)])
    test = np.concatenate([rng.permutation(1100), rng.randint(0, 1100, size=1100)])
    table = contingency_table(true, test)
    assert as_dict(table) == dense_table(true, test)


def test_component_labels_face_connectivity():
    mask = np.array([[1, 1, 0], [0, 0, 1], [0, 1, 1]], dtype=bool)
    components = component_labels(mask)
    # the pair at the top and the L at the bottom right touch only diagonally
    assert components.values.tolist() == [0, 1, 2]
    assert components.index.tolist() == [1, 1, 0, 0, 0, 2, 0, 2, 2]
