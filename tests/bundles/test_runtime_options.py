"""The CPU run settings of every bundle: on by default, and each bundle option switches its own setting off."""

from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from monai.bundle import ConfigParser

from unet3d_monai.bundle.options import check_cli_overrides, config_option_names
from unet3d_monai.data.sample import write_sample_dataset
from unet3d_monai.inference import native_cpu_bfloat16
from unet3d_monai.runtime import CPURunSettings, is_bfloat16_guarded, is_channels_last_3d, resolve_threads

ROOT = Path(__file__).resolve().parents[2]
TASKS = ["boundary", "denoising", "dsb2018_2d", "lightsheet_boundary", "multiclass", "nuclei"]
SMALL = {"network_def#f_maps": [4, 8], "network_def#num_groups": 2}
OFF = {"cpu_allocator": "false", "cpu_threads": "none", "channels_last": "false", "cpu_bf16": "false"}
pytestmark = pytest.mark.usefixtures("threads_kept_and_allocator_recorded")


def _runtime_line(parser, section):
    lines = parser[section]
    (index,) = [i for i, line in enumerate(lines) if line.startswith("$unet3d_monai.runtime.configure_run(")]
    return f"{section}#{index}"


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """Small sample datasets: the training plan reads the training volumes when the network is built."""
    root = tmp_path_factory.mktemp("datasets")
    made = {}

    def dataset(task):
        if task not in made:
            shape = (64, 64) if task == "dsb2018_2d" else (16, 48, 48)
            write_sample_dataset(task, root / task, shape=shape)
            made[task] = str(root / task)
        return made[task]

    return dataset


def _parser(task, kind, overrides, tmp_path, datasets, merged_with=()):
    """The bundle's ``{kind}.json`` (then the files of ``merged_with`` over it), small and on the CPU."""
    parser = ConfigParser()
    parser.read_config([str(ROOT / "bundles" / task / name) for name in (f"{kind}.json", *merged_with)])
    small = {k: v for k, v in SMALL.items() if task != "dsb2018_2d" or k != "network_def#num_groups"}
    parser.update({"device": "cpu", "dataset_dir": datasets(task), **small, **overrides})
    if kind == "inference":
        network = parser.get_parsed_content("network_def")
        torch.save(network.state_dict(), tmp_path / "model.pt")
        parser.update({"ckpt_path": str(tmp_path / "model.pt"), "output_dir": str(tmp_path / "out")})
    return parser


def _bfloat16(parser, kind):
    if kind == "train":
        return parser.get_parsed_content("train#inferer").enabled
    # the chain's per-window network, which the evaluator and the block-wise predictor both run
    return parser.get_parsed_content("window_predictor").autocast_on("cpu")


@pytest.mark.parametrize("kind", ["train", "inference"])
@pytest.mark.parametrize("task", TASKS)
def test_defaults(task, kind, tmp_path, threads_kept_and_allocator_recorded, datasets):
    parser = _parser(task, kind, {}, tmp_path, datasets)
    settings = parser.get_parsed_content(_runtime_line(parser, "initialize" if kind == "train" else "run"))
    three_d = task != "dsb2018_2d"
    # bfloat16 autocast where the CPU computes it natively, training and prediction, but not for denoising and
    # lightsheet_boundary (float32 measured better on held-out data)
    bfloat16 = native_cpu_bfloat16() and task not in ("denoising", "lightsheet_boundary")
    assert settings == CPURunSettings(
        allocator=True, threads=resolve_threads("auto"), channels_last=three_d, bfloat16=bfloat16
    )
    assert threads_kept_and_allocator_recorded == [1]
    assert is_channels_last_3d(parser.get_parsed_content("network")) is three_d
    assert _bfloat16(parser, kind) is bfloat16
    if settings.threads is not None:
        assert torch.get_num_threads() == settings.threads
    # 3D convolutions on two-voxel-deep inputs compute in float32 under bfloat16 (oneDNN's gradients there are wrong)
    assert is_bfloat16_guarded(parser.get_parsed_content("network")) is (bfloat16 and three_d)


@pytest.mark.parametrize("kind", ["train", "inference"])
@pytest.mark.parametrize("task", TASKS)
def test_options_switch_each_setting_off(task, kind, tmp_path, threads_kept_and_allocator_recorded, datasets):
    torch.set_num_threads(1)
    parser = _parser(task, kind, OFF, tmp_path, datasets)
    settings = parser.get_parsed_content(_runtime_line(parser, "initialize" if kind == "train" else "run"))
    assert settings == CPURunSettings(allocator=False, threads=None, channels_last=False, bfloat16=False)
    assert threads_kept_and_allocator_recorded == []
    assert torch.get_num_threads() == 1
    assert not is_channels_last_3d(parser.get_parsed_content("network"))
    assert _bfloat16(parser, kind) is False


@pytest.mark.parametrize("task", TASKS)
def test_every_bundle_lists_the_runtime_options(task):
    for kind in ("train", "inference"):
        path = ROOT / "bundles" / task / f"{kind}.json"
        # the command line accepts the names the config defines (no hand-kept list)
        assert set(OFF) <= config_option_names([path]), (task, kind)
        argv = ["run", "--config_file", str(path), *[token for name in OFF for token in (f"--{name}", "false")]]
        check_cli_overrides(argv=argv)


@pytest.fixture
def one_process_group(tmp_path):
    """A gloo process group of one process, as ``torchrun --nproc_per_node=1`` would start."""
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


@pytest.mark.parametrize("task", TASKS)
def test_distributed_training_guards_bfloat16(task, tmp_path, datasets, one_process_group):
    """Under multi_gpu_train.json the wrapped network gets the run settings too: with bfloat16 autocast its 3D
    convolutions on two-voxel-deep inputs compute in float32 (oneDNN's bfloat16 weight gradients there are wrong,
    which ended distributed runs in NaN losses); the weights stay channels-first under DistributedDataParallel."""
    parser = _parser(task, "train", {"cpu_bf16": "true"}, tmp_path, datasets, merged_with=["multi_gpu_train.json"])
    settings = parser.get_parsed_content(_runtime_line(parser, "initialize"))
    network = parser.get_parsed_content("network")
    assert isinstance(network, torch.nn.parallel.DistributedDataParallel)
    three_d = task != "dsb2018_2d"
    assert settings.bfloat16 and not settings.channels_last
    assert parser.get_parsed_content("train#inferer").enabled
    assert is_bfloat16_guarded(network.module) is three_d
    assert not is_channels_last_3d(network.module)
