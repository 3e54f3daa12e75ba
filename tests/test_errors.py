"""naomi_nb/errors.py: the one-line errors and the out-of-memory test every layer shares."""
import errno

from naomi_nb.errors import ConfigError, DeviceError, is_oom


class OutOfMemoryError(RuntimeError):
    """Named as torch's CUDA error is (recognised by its name: this module imports no torch)."""


def test_a_device_error_is_a_config_error_and_both_are_value_errors():
    assert issubclass(DeviceError, ConfigError) and issubclass(ConfigError, ValueError)


def test_out_of_memory_in_every_form_and_nothing_else():
    assert is_oom(MemoryError()) and is_oom(OutOfMemoryError("CUDA error"))
    assert is_oom(OSError(errno.ENOMEM, "Cannot allocate memory"))
    assert is_oom(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 8 GB"))
    wrapped = RuntimeError("compile failed")
    wrapped.__cause__ = MemoryError()
    assert is_oom(wrapped)
    assert not is_oom(RuntimeError("shape mismatch")) and not is_oom(ValueError("out of memory"))
    assert not is_oom(None)
    looped = RuntimeError("a")
    looped.__context__ = looped  # a cycle of causes ends
    assert not is_oom(looped)
