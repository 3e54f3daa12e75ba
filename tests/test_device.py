"""The device: names it accepts and the one-line errors for the rest, the compile policy's fallback decided
per call, the deterministic switch restored after a run, and the free memory a run may count on."""
import os
import resource

import pytest
import torch

from naomi_nb import device as DV
from naomi_nb.errors import ConfigError, DeviceError


def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_kind_answers_without_touching_a_gpu(monkeypatch):
    no_cuda(monkeypatch)
    assert DV.kind() == DV.kind("auto") == DV.kind(None) == "cpu"
    assert DV.kind("CUDA:1") == "cuda" and DV.kind("cpu") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert DV.kind("Auto") == "cuda"


def test_auto_picks_the_cpu_without_cuda(monkeypatch):
    no_cuda(monkeypatch)
    assert DV.pick("auto") == torch.device("cpu") and DV.pick("cpu") == torch.device("cpu")


@pytest.mark.parametrize("name, message", [
    ("gpu", "is not a device"),
    ("mps", "only cpu and cuda are supported"),
    ("cuda", "CUDA is not available on this machine"),
    ("cuda:0", "CUDA is not available on this machine"),
])
def test_an_unusable_device_is_a_one_line_configuration_error(monkeypatch, name, message):
    no_cuda(monkeypatch)
    with pytest.raises(DeviceError, match=f"^--device .*{message}") as err:
        DV.pick(name)
    assert isinstance(err.value, ConfigError) and "\n" not in str(err.value)


def test_device_error_is_the_one_of_the_errors_module():
    assert DV.DeviceError is DeviceError and issubclass(DeviceError, ConfigError)


def test_a_cuda_index_that_does_not_exist_is_one_line(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(DV.DeviceError, match="1 CUDA device"):
        DV.pick("cuda:3")


def test_compile_fallback_is_decided_per_call(monkeypatch):
    calls = {"n": 0}

    def fake_compile(fn, dynamic=True, **options):
        def run(*args):
            calls["n"] += 1
            if calls["n"] == 1:
                raise RuntimeError("compile failed") from MemoryError()  # memory pressure while compiling
            return fn(*args) + 100
        return run

    monkeypatch.setattr(DV.torch, "compile", fake_compile)
    f = DV.compiled(lambda x: x + 1)
    with pytest.raises(RuntimeError):
        f(1)  # the caller (the trainer) sees an OOM and halves its batch
    assert f(1) == 102  # ... and the next call is compiled again, not eager for the rest of the run
    g = DV.compiled(lambda x: x + 1)
    calls["n"] = 10

    def broken(fn, dynamic=True, **options):
        def run(*args):
            raise RuntimeError("no C++ compiler")
        return run

    monkeypatch.setattr(DV.torch, "compile", broken)
    with pytest.warns(UserWarning, match="runs eagerly"):
        assert g(1) == 2
    assert g(1) == 2


def test_synchronizer_is_a_no_op_on_the_cpu():
    assert DV.synchronizer(torch.device("cpu"))() is None


def test_deterministic_algorithms_are_restored_even_after_an_error():
    before = torch.are_deterministic_algorithms_enabled()
    with pytest.raises(RuntimeError, match="boom"):
        with DV.deterministic_algorithms(True, torch.device("cpu")):
            assert torch.are_deterministic_algorithms_enabled()
            raise RuntimeError("boom")
    assert torch.are_deterministic_algorithms_enabled() == before
    with DV.deterministic_algorithms(False, torch.device("cpu")):
        assert torch.are_deterministic_algorithms_enabled() == before  # off: left as it was


def test_the_cublas_workspace_is_set_unless_the_user_set_it(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    DV.cuda_deterministic_env()
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    DV.cuda_deterministic_env()
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"


def test_cpu_memory_is_the_smallest_known_room(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(DV, "_meminfo_available", lambda: 8 << 30)
    monkeypatch.setattr(DV, "_cgroup_available", lambda: 2 << 30)
    monkeypatch.setattr(DV, "_address_space_available", lambda: None)
    assert DV.available_bytes(cpu) == 2 << 30
    monkeypatch.setattr(DV, "_address_space_available", lambda: -5)  # already over the limit
    assert DV.available_bytes(cpu) == 0
    for name in ("_meminfo_available", "_cgroup_available", "_address_space_available"):
        monkeypatch.setattr(DV, name, lambda: None)
    assert DV.available_bytes(cpu) is None


def test_an_address_space_limit_counts_only_when_set(monkeypatch):
    monkeypatch.setattr(resource, "getrlimit", lambda what: (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    assert DV._address_space_available() is None
    monkeypatch.setattr(resource, "getrlimit", lambda what: (1 << 50, resource.RLIM_INFINITY))
    room = DV._address_space_available()
    assert 0 < room < 1 << 50  # the limit less what the process already maps
