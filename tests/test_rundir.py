"""naomi_nb.rundir: what a run directory holds."""
import numpy as np

from naomi_nb import rundir


def test_sparse_copy_is_written_when_mostly_zero(tmp_path):
    import scipy.sparse

    emb = np.zeros((100, 8), np.float32)
    emb[::10, 3] = 1.5
    size = rundir.save_sparse_if_worth_it(tmp_path / "e.npz", emb)
    assert size and size < emb.nbytes
    np.testing.assert_array_equal(scipy.sparse.load_npz(tmp_path / "e.npz").toarray(), emb)
    assert rundir.save_sparse_if_worth_it(tmp_path / "f.npz", np.ones((10, 8), np.float32)) is None
