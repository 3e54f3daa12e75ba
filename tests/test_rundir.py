"""naomi_nb.rundir: what a run directory holds."""
import numpy as np
import pytest
import torch

from naomi_nb import files, rundir
from naomi_nb import trainer as T
from naomi_nb.graph import tiny_graph
from test_integrity import _flip_a_tensor_byte
from test_reliability import cfg_for, without_timing


def test_sparse_copy_is_written_when_mostly_zero(tmp_path):
    import scipy.sparse

    emb = np.zeros((100, 8), np.float32)
    emb[::10, 3] = 1.5
    size = rundir.save_sparse_if_worth_it(tmp_path / "e.npz", emb)
    assert size and size < emb.nbytes
    np.testing.assert_array_equal(scipy.sparse.load_npz(tmp_path / "e.npz").toarray(), emb)
    assert rundir.save_sparse_if_worth_it(tmp_path / "f.npz", np.ones((10, 8), np.float32)) is None
    half = np.zeros((10, 8), np.float32)
    half[:, :4] = 1.0  # half zeros: a CSR copy would be about as large as the dense file
    assert rundir.save_sparse_if_worth_it(tmp_path / "g.npz", half) is None and not (tmp_path / "g.npz").exists()


# ---------------------------------------------------------------- no matrix stored twice

def _tensors(ckpt: dict) -> list[str]:
    return [k for k, v in ckpt.items() if isinstance(v, torch.Tensor)]


def test_a_finished_run_stores_each_matrix_once_and_best_pt_points_at_embeddings(tmp_path):
    result = T.train(cfg_for(tmp_path, epochs=4), graph=tiny_graph())
    run = result.run_dir
    assert not (run / "checkpoints" / "final.pt").exists()
    pointer = torch.load(run / "checkpoints" / "best.pt", weights_only=True)
    assert _tensors(pointer) == [] and pointer["embeddings_file"] == "embeddings.npy"
    assert pointer["embeddings_sha256"] == files.sha256(run / "embeddings.npy")
    assert pointer["epoch"] == result.metrics["best_epoch"] and pointer["val_loss"] == result.metrics["best_val"]
    best = rundir.load_best(run)
    np.testing.assert_array_equal(best["embeddings"].numpy(), np.load(run / "embeddings.npy"))
    np.testing.assert_array_equal(best["embeddings"].numpy(), result.embeddings)
    # every V x D matrix on disk: embeddings.npy, and last.pt's weights and two Adam moments
    last = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert sorted(k for k in _tensors(last) if last[k].dim() == 2) == ["embeddings", "exp_avg", "exp_avg_sq"]


def test_resume_finds_an_earlier_best_in_embeddings_npy_and_matches_one_run(tmp_path):
    # lr 0.3 on the tiny graph: the best epoch is 2, narrower than the weights of the epochs after it
    graph = tiny_graph()
    full = T.train(cfg_for(tmp_path, "full", epochs=6, lr=0.3), graph=graph)
    part = T.train(cfg_for(tmp_path, "part", epochs=3, lr=0.3), graph=graph)
    assert part.metrics["best_epoch"] == full.metrics["best_epoch"] == 2
    assert _tensors(torch.load(part.run_dir / "checkpoints" / "best.pt", weights_only=True)) == []
    resumed = T.train(cfg_for(tmp_path, "ignored", epochs=6), graph=graph, resume=part.run_dir)
    def plain(history):  # the part's records say 3 planned epochs
        return [{k: v for k, v in r.items() if k != "epochs"} for r in without_timing(history)]

    assert plain(resumed.history) == plain(full.history)
    np.testing.assert_array_equal(resumed.embeddings, full.embeddings)
    np.testing.assert_array_equal(np.load(part.run_dir / "embeddings.npy"), full.embeddings)


def test_a_pointer_to_a_replaced_or_missing_embeddings_npy_is_one_line(tmp_path):
    run = T.train(cfg_for(tmp_path, epochs=2), graph=tiny_graph()).run_dir
    rundir.write_embeddings(run / "embeddings.npy", np.ones((37, 4), np.float32))  # valid, checksummed, not the best
    with pytest.raises(rundir.RunDirError, match=r"embeddings.npy is damaged .*best.pt\): delete .*checkpoints"):
        rundir.load_best(run)
    (run / "embeddings.npy").unlink()
    with pytest.raises(rundir.RunDirError, match=r"embeddings.npy is missing, and .*best.pt keeps the best model"):
        rundir.load_best(run)


def test_a_pruned_run_keeps_its_whole_best_pt_which_rewrites_damaged_embeddings(tmp_path, monkeypatch, capsys):
    real = T.embedding_stats

    def one_dead_column(E, *args):
        stats = real(E, *args)
        stats["activity"][0] = 0
        return stats

    monkeypatch.setattr(T, "embedding_stats", one_dead_column)
    cfg = cfg_for(tmp_path, epochs=3, dynamic_dims=False, prune=True, embedding_dim=6)
    result = T.train(cfg, graph=tiny_graph())
    run = result.run_dir
    assert result.metrics["pruned_dims"] == 1 and result.embeddings.shape == (37, 5)
    best = rundir.load_best(run)  # the unpruned best model, which a resume continues from
    assert _tensors(best) == ["embeddings"] and best["embeddings"].shape == (37, 6)
    np.testing.assert_array_equal(best["embeddings"][:, 1:].numpy(), result.embeddings)
    data = bytearray((run / "embeddings.npy").read_bytes())
    data[-3] ^= 0x01
    (run / "embeddings.npy").write_bytes(bytes(data))
    with pytest.raises(rundir.RunDirError, match=r"damaged .*best.pt holds the best model \(train --resume"):
        rundir.load_embeddings(run / "embeddings.npy")
    T.train(cfg, graph=tiny_graph(), resume=run)  # nothing left to train: the results are written again
    np.testing.assert_array_equal(rundir.load_embeddings(run / "embeddings.npy"), result.embeddings)


def test_a_bit_flip_in_a_whole_best_pt_is_refused_naming_it(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    rundir.save_best(tmp_path, epoch=3, embeddings=torch.randn(20, 6), val_loss=0.5, config={})
    _flip_a_tensor_byte(tmp_path / "checkpoints" / "best.pt")
    with pytest.raises(rundir.RunDirError, match=r"best.pt is damaged .*: delete .*checkpoints to resume"):
        rundir.load_best(tmp_path)


def test_an_older_versions_final_pt_goes_when_the_run_finishes_again(tmp_path):
    run = T.train(cfg_for(tmp_path, epochs=2), graph=tiny_graph()).run_dir
    rundir.save_checkpoint(run / "checkpoints" / "final.pt", {"embeddings": torch.zeros(37, 4)})
    T.train(cfg_for(tmp_path, epochs=2), graph=tiny_graph(), resume=run)
    assert not (run / "checkpoints" / "final.pt").exists()


def test_a_checked_file_is_verified_and_an_unchecked_one_is_read_as_before(tmp_path):
    from naomi_nb.rundir import RunDirError, verify_checked, write_checked

    path = tmp_path / "graph.json"
    write_checked(path, b'{"n_senses": 3000}')
    assert verify_checked(path, "way out")
    assert (tmp_path / "graph.json.sha256").read_text().endswith("  graph.json\n")  # sha256sum -c reads it
    path.write_bytes(b'{"n_senses": 3001}')
    with pytest.raises(RunDirError, match=r"graph.json is damaged \(it does not match its checksum in "
                                          r"graph.json.sha256\): way out"):
        verify_checked(path, "way out")
    (tmp_path / "graph.json.sha256").unlink()
    assert verify_checked(path, "way out") is False  # an older version's file: no checksum to compare


def test_config_json_is_compared_with_the_checkpoints_but_for_what_a_resume_may_change(tmp_path):
    from naomi_nb.rundir import RunDirError, check_config_matches

    trained = {"lr": 0.01, "epochs": 5, "patience": 3, "device": "cpu", "analyze": True, "seed": 0}
    check_config_matches(tmp_path, {**trained, "epochs": 9, "patience": 1, "device": "auto", "analyze": False},
                         {"config": trained})
    check_config_matches(tmp_path, {**trained, "added_later": 1}, {"config": trained})  # another version's key
    with pytest.raises(RunDirError, match=r"says seed = 1, but checkpoints/last.pt was trained with 0"):
        check_config_matches(tmp_path, {**trained, "seed": 1}, {"config": trained})
