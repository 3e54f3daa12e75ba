"""naomi_nb/runlock.py: one training process per run directory, and no lock file left behind."""
import pytest

from naomi_nb.errors import RunDirError
from naomi_nb.rundir import new_run_dir
from naomi_nb.runfiles import LOCK
from naomi_nb.runlock import RunLock



def test_the_lock_file_goes_when_its_run_ends_and_a_second_holder_waits_for_it(tmp_path):
    run, lock = new_run_dir(str(tmp_path / "r"))
    assert (run / LOCK).exists()
    with pytest.raises(RunDirError, match="in use by another training run"):
        RunLock(run).acquire()
    lock.release()
    assert not (run / LOCK).exists()
    with RunLock(run):
        assert (run / LOCK).exists()
    assert not (run / LOCK).exists()
