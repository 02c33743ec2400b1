import pickle

import pytest
import torch

from unet3d_monai.inference import native_cpu_bfloat16
from unet3d_monai.networks import UNet2D, UNet3D
from unet3d_monai.runtime import (
    CPURunSettings,
    apply_cpu_run,
    configure_run,
    cpu_run,
    is_channels_last_3d,
    resolve_cpu_run,
)

pytestmark = pytest.mark.usefixtures("threads_kept_and_allocator_recorded")


def _network():
    return UNet3D(1, 1, f_maps=[4, 8], num_groups=2)


def test_defaults_switch_everything_on_for_the_cpu(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(cpu_run, "resolve_threads", lambda option: 3 if option == "auto" else None)
    settings = resolve_cpu_run("cpu")
    assert settings == CPURunSettings(allocator=True, threads=3, channels_last=True, bfloat16=native_cpu_bfloat16())


@pytest.mark.parametrize(
    ("options", "off"),
    [
        ({"allocator": "false"}, "allocator"),
        ({"threads": None}, "threads"),
        ({"channels_last": False}, "channels_last"),
        ({"cpu_bf16": "false"}, "bfloat16"),
    ],
)
def test_each_option_switches_its_setting_off(options, off):
    settings = resolve_cpu_run("cpu", **options)
    assert getattr(settings, off) in (False, None)
    others = {"allocator": True, "channels_last": True}
    for name, value in others.items():
        if name != off:
            assert getattr(settings, name) is value


def test_other_devices_change_nothing():
    settings = resolve_cpu_run("cuda", cpu_bf16=True)
    assert settings == CPURunSettings(allocator=False, threads=None, channels_last=False, bfloat16=False)


def test_no_allocator_setting_without_glibc(monkeypatch):
    monkeypatch.setattr(cpu_run, "glibc", lambda: None)
    assert resolve_cpu_run("cpu").allocator is False


def test_bad_options_name_themselves():
    with pytest.raises(ValueError, match=r"--cpu_allocator must be true or false"):
        resolve_cpu_run("cpu", allocator="sometimes")
    with pytest.raises(ValueError, match=r"--channels_last must be true or false"):
        resolve_cpu_run("cpu", channels_last="2")
    with pytest.raises(ValueError, match=r"--cpu_bf16 must be true or false"):
        resolve_cpu_run("cpu", cpu_bf16="maybe")


def test_apply_sets_threads_and_layout_and_is_idempotent(threads_kept_and_allocator_recorded):
    settings = CPURunSettings(allocator=True, threads=1, channels_last=True, bfloat16=False)
    network = _network()
    applied = apply_cpu_run(settings, network)
    assert applied == settings
    assert torch.get_num_threads() == 1 and is_channels_last_3d(network)
    state = {k: v.clone() for k, v in network.state_dict().items()}
    assert apply_cpu_run(settings, network) == settings
    assert all(torch.equal(state[k], v) for k, v in network.state_dict().items())
    assert threads_kept_and_allocator_recorded == [1, 1]


def test_apply_reports_what_it_could_not_do(threads_kept_and_allocator_recorded):
    settings = CPURunSettings(allocator=False, threads=None, channels_last=True, bfloat16=True)
    assert apply_cpu_run(settings).channels_last is False  # no network
    network = UNet2D(1, 1, f_maps=[4, 8], num_groups=2)
    assert apply_cpu_run(settings, network).channels_last is False  # 2D
    assert threads_kept_and_allocator_recorded == []


def test_configure_run_with_options_off_leaves_the_network_as_it_is():
    network = _network()
    threads = torch.get_num_threads()
    settings = configure_run("cpu", network, allocator=False, threads=None, channels_last=False, cpu_bf16=False)
    assert settings == CPURunSettings(allocator=False, threads=None, channels_last=False, bfloat16=False)
    assert not is_channels_last_3d(network) and torch.get_num_threads() == threads


def test_settings_travel_to_workers():
    settings = CPURunSettings(allocator=True, threads=2, channels_last=True, bfloat16=True)
    assert pickle.loads(pickle.dumps(settings)) == settings
    with settings.autocast():
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
    with CPURunSettings(False, None, False, False).autocast():
        assert not torch.is_autocast_enabled("cpu")
