"""naomi_nb.dims: the seed's batch-size rule, the saturation rule and early stopping."""
import numpy as np

from naomi_nb import dims as D


def test_adapted_batch_size_follows_the_seed():
    seq = [D.adapted_batch_size(1048576, 128, d, 32768, 10**9) for d in (128, 256, 512)]
    assert seq == [1048576, 524288, 262144]
    assert D.adapted_batch_size(1000000, 128, 192, 32768, 10**9) == 666666  # the seed's log line
    assert D.adapted_batch_size(65536, 128, 512, 32768, 10**9) == 32768  # the floor
    assert D.adapted_batch_size(1048576, 128, 128, 32768, 5000) == 5000  # never above the training set


def test_saturation_rule():
    assert D.should_expand(np.array([0.3] * 8 + [0.0] * 2), 0.3)  # exactly 80% saturated
    assert not D.should_expand(np.array([0.3] * 7 + [0.29] * 3), 0.3)
    assert not D.should_expand(np.array([]), 0.3)
    assert D.expanded_dims(480, 64, 512) == 512 and D.expanded_dims(512, 64, 512) == 512
    assert D.dimension_classes(np.array([0.05, 0.2, 0.5, 0.9, 0.7])) == \
        {"unused": 1, "sparse": 1, "moderate": 1, "dense": 2}


def test_early_stopping_rule():
    es = D.EarlyStopping(patience=2, min_delta=0.1)
    flags = [es.update(x, i + 1) for i, x in enumerate([1.0, 0.95, 0.85, 0.8, 0.9])]
    assert flags == [True, False, True, False, False]
    assert es.best == 0.85 and es.best_epoch == 3 and es.should_stop
