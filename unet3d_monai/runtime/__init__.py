"""Run-time settings that make training and prediction on CPUs fast, applied at the start of a run."""

from unet3d_monai.runtime.allocator import AllocatorSettings, configure_glibc_allocator, glibc
from unet3d_monai.runtime.bfloat16_guard import guard_bfloat16_convolutions, is_bfloat16_guarded
from unet3d_monai.runtime.cpu_bfloat16 import cpu_bfloat16_enabled, native_cpu_bfloat16
from unet3d_monai.runtime.cpu_run import CPURunSettings, apply_cpu_run, configure_run, resolve_cpu_run
from unet3d_monai.runtime.memory_format import is_channels_last_3d, to_channels_last_3d
from unet3d_monai.runtime.threads import physical_cores, resolve_threads

__all__ = [
    "AllocatorSettings",
    "CPURunSettings",
    "apply_cpu_run",
    "configure_glibc_allocator",
    "configure_run",
    "cpu_bfloat16_enabled",
    "glibc",
    "guard_bfloat16_convolutions",
    "is_bfloat16_guarded",
    "is_channels_last_3d",
    "native_cpu_bfloat16",
    "physical_cores",
    "resolve_cpu_run",
    "resolve_threads",
    "to_channels_last_3d",
]
