"""Convert a pytorch-3dunet YAML configuration (train or test) into a MONAI bundle of this package.

A train configuration gives ``train.json`` (and ``inference.json`` predicting with the weights it trains); a test
configuration gives ``inference.json``. Both come with ``metadata.json``, ``logging.conf`` and a ``README.md``
saying where the bundle came from and what differs from pytorch-3dunet. The bundles use this package's components
through MONAI's config syntax, like the bundles in ``bundles/``; ``python -m monai.bundle run`` runs them as they
are.
"""

from __future__ import annotations

import glob
import inspect
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import torch
import yaml

from unet3d_monai.compat.config import PYTORCH3DUNET_NETWORKS, network_from_pytorch3dunet_config
from unet3d_monai.compat.notes import ConfigKeyError, ConversionNote, check_keys, check_name
from unet3d_monai.compat.seed_training import (
    METRICS,
    convert_eval_metric,
    convert_loss,
    convert_lr_scheduler,
    convert_optimizer,
)
from unet3d_monai.compat.seed_transforms import convert_transformer, prediction_normalization
from unet3d_monai.io.atomic import replace_path

__all__ = [
    "ConvertedBundle",
    "convert_pytorch3dunet_config",
    "read_pytorch3dunet_config",
    "write_bundle",
]

TOP_KEYS = (
    "model",
    "loss",
    "optimizer",
    "lr_scheduler",
    "eval_metric",
    "trainer",
    "loaders",
    "predictor",
    "model_path",
    "device",
    "manual_seed",
)
TRAINER_KEYS = (
    "checkpoint_dir",
    "resume",
    "pre_trained",
    "validate_after_iters",
    "log_after_iters",
    "max_num_epochs",
    "max_num_iterations",
    "eval_score_higher_is_better",
    "tensorboard_formatter",
    "validate_iters",
    "skip_train_validation",
    "max_val_images",
    "num_iterations",
    "num_epoch",
)
LOADERS_KEYS = (
    "dataset",
    "batch_size",
    "num_workers",
    "raw_internal_path",
    "label_internal_path",
    "weight_internal_path",
    "global_normalization",
    "random_scale",
    "random_scale_probability",
    "output_dir",
    "expand_dims",
    "train",
    "val",
    "test",
)
PHASE_KEYS = ("file_paths", "slice_builder", "transformer")
SLICE_BUILDER_KEYS = (
    "name",
    "patch_shape",
    "stride_shape",
    "halo_shape",
    "threshold",
    "slack_acceptance",
    "ignore_index",
    "skip_shape_check",
)
PREDICTOR_KEYS = (
    "name",
    "save_segmentation",
    "output_dataset",
    "prediction_channel",
    "patch_halo",
    "performance_metric",
    "gt_internal_path",
    "pmaps_thershold",
)
DATASETS = ("StandardHDF5Dataset", "LazyHDF5Dataset", "DSB2018Dataset")
SLICE_BUILDERS = ("SliceBuilder", "FilterSliceBuilder")
PREDICTORS = ("StandardPredictor", "LazyPredictor", "DSB2018Predictor")
DEVICES = ("cuda", "cpu", "mps")
# pytorch-3dunet's defaults
DEFAULT_VALIDATE_AFTER_ITERS = 200
DEFAULT_LOG_AFTER_ITERS = 100
DSB2018_SIZE = [256, 256]
LOGGING_CONF = """[loggers]
keys=root

[handlers]
keys=consoleHandler

[formatters]
keys=fullFormatter

[logger_root]
level=INFO
handlers=consoleHandler

[handler_consoleHandler]
class=StreamHandler
level=INFO
formatter=fullFormatter
args=(sys.stdout,)

[formatter_fullFormatter]
format=%(asctime)s - %(name)s - %(levelname)s - %(message)s
"""


@dataclass
class ConvertedBundle:
    """A converted configuration, ready to be written as a bundle folder or run in memory.

    Attributes:
        source: the configuration it came from (a file name, or ``"the configuration"``).
        train: the ``train.json`` content, or None for a test configuration.
        inference: the ``inference.json`` content.
        metadata: the ``metadata.json`` content.
        notes: every key without an exact equivalent, and what happens instead.
    """

    source: str
    train: dict[str, Any] | None
    inference: dict[str, Any]
    metadata: dict[str, Any]
    notes: list[ConversionNote] = field(default_factory=list)

    def readme(self, bundle_dir: str | os.PathLike = "<bundle>") -> str:
        """The bundle's ``README.md``: where it came from, how to run it, and what differs."""
        return _readme(self, str(bundle_dir))


def read_pytorch3dunet_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read a pytorch-3dunet YAML configuration.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not YAML, or not a mapping of sections.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Configuration file {path} does not exist.")
    try:
        content = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"{path} is not a valid YAML file: {first}") from error
    if not isinstance(content, dict):
        raise ValueError(
            f"{path} is not a pytorch-3dunet configuration: expected a YAML mapping with sections such as 'model' "
            f"and 'loaders', found {type(content).__name__}."
        )
    return content


def _section(config: Mapping, key: str, source: str, required: bool = False) -> dict[str, Any]:
    value = config.get(key)
    if value is None:
        if required:
            raise ConfigKeyError(f"{source}: the section '{key}' is missing.")
        return {}
    if not isinstance(value, Mapping):
        raise ConfigKeyError(f"{source}: '{key}' must be a mapping, got {value!r}.")
    return dict(value)


def _shape(value: Any, key: str, source: str, dims: int = 3) -> list[int]:
    if not isinstance(value, (list, tuple)) or len(value) != dims or not all(isinstance(v, int) for v in value):
        raise ConfigKeyError(f"{source}: {key} must be a list of {dims} integers, got {value!r}.")
    return [int(v) for v in value]


def _file_paths(phase: Mapping, where: str, source: str) -> list[str]:
    paths = phase.get("file_paths")
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if not isinstance(paths, list) or not paths or not all(isinstance(p, (str, os.PathLike)) for p in paths):
        raise ConfigKeyError(f"{source}: {where}.file_paths must be a list of files, folders or globs, got {paths!r}.")
    return [str(p) for p in paths]


def _missing_paths(paths: list[str], where: str) -> list[ConversionNote]:
    missing = [p for p in paths if not glob.glob(os.path.expanduser(p))]
    if not missing:
        return []
    return [ConversionNote(where, f"{', '.join(missing)} matches nothing yet; the run will stop there.")]


def _first_crop(transformer: Mapping) -> list[int] | None:
    """The ``size`` of the first ``CropToFixed`` of a transformer's raw list (pytorch-3dunet's default 256x256)."""
    for item in transformer.get("raw") or []:
        if isinstance(item, Mapping) and item.get("name") == "CropToFixed":
            size = item.get("size", DSB2018_SIZE)
            return [int(s) for s in size] if isinstance(size, (list, tuple)) and len(size) == 2 else None
    return None


class _Converter:
    def __init__(self, config: Mapping, source: str) -> None:
        self.config = config
        self.source = source
        self.notes: list[ConversionNote] = []
        self.crop_size: list[int] | None = None

    def note(self, key: str, message: str) -> None:
        self.notes.append(ConversionNote(key, message))

    # ---- model ----------------------------------------------------------------------------------------------
    def model(self) -> None:
        model = _section(self.config, "model", self.source, required=True)
        name = check_name(model.get("name"), PYTORCH3DUNET_NETWORKS, "model.name", self.source)
        network_class = PYTORCH3DUNET_NETWORKS[name]
        check_keys(model, {"name", *inspect.signature(network_class).parameters}, "model", self.source)
        for key in ("in_channels", "out_channels"):
            if not isinstance(model.get(key), int) or model[key] < 1:
                raise ConfigKeyError(f"{self.source}: model.{key} must be a positive integer, got {model.get(key)!r}.")
        with warnings.catch_warnings(record=True) as caught, torch.device("meta"):
            warnings.simplefilter("always")
            try:
                network_from_pytorch3dunet_config({"model": model})
            except (TypeError, ValueError) as error:
                raise ConfigKeyError(f"{self.source}: {str(error).removeprefix('the configuration: ')}") from error
        for warning in caught:
            self.note("model", str(warning.message).removeprefix("the configuration: "))
        options = {k: v for k, v in model.items() if k not in ("name", "in_channels", "out_channels")}
        if isinstance(options.get("f_maps"), list):
            options.pop("num_levels", None)
        self.network_name = name
        self.spatial_dims = 2 if name.endswith("2D") else 3
        self.in_channels, self.out_channels = int(model["in_channels"]), int(model["out_channels"])
        self.network_def = {
            "_target_": f"unet3d_monai.networks.{name}",
            "in_channels": "@in_channels",
            "out_channels": "@out_channels",
            **options,
        }
        if not model.get("is_segmentation", True):
            self.activation: str | None = None
        else:
            self.activation = "sigmoid" if model.get("final_sigmoid", True) else "softmax"
        f_maps = model.get("f_maps", 64)
        default_levels = 4 if name in ("UNet3D", "UNet2D") else 5
        self.levels = len(f_maps) if isinstance(f_maps, list) else int(model.get("num_levels", default_levels))

    def device(self) -> str:
        device = self.config.get("device")
        if device is None:
            return "$torch.device('cuda' if torch.cuda.is_available() else 'cpu')"
        check_name(device, DEVICES, "device", self.source)
        if device == "mps":
            self.note("device", "MONAI's trainer runs on 'cuda' or 'cpu'; 'mps' is used as given.")
        return f"$torch.device('{device}')"

    # ---- loaders --------------------------------------------------------------------------------------------
    def loaders(self) -> None:
        self.loaders_section = _section(self.config, "loaders", self.source, required=True)
        loaders = self.loaders_section
        check_keys(loaders, LOADERS_KEYS, "loaders", self.source)
        self.dataset = check_name(
            loaders.get("dataset", "StandardHDF5Dataset"), DATASETS, "loaders.dataset", self.source
        )
        self.whole_images = self.dataset == "DSB2018Dataset"
        if self.whole_images:
            self.note(
                "loaders.dataset",
                "DSB2018Dataset read PNG files from <folder>/images and <folder>/masks; "
                "here every HDF5 file of file_paths is one 2D image, datasets raw and label "
                "of shape (1, Y, X).",
            )
            if self.spatial_dims != 2:
                raise ConfigKeyError(
                    f"{self.source}: loaders.dataset DSB2018Dataset holds 2D images and needs a 2D "
                    f"model (UNet2D or ResidualUNet2D), not {self.network_name}."
                )
        self.raw_key = str(loaders.get("raw_internal_path", "raw"))
        self.label_key = str(loaders.get("label_internal_path", "label"))
        self.weight_key = loaders.get("weight_internal_path")
        self.global_normalization = bool(loaders.get("global_normalization", False))
        self.batch_size = int(loaders.get("batch_size", 1))
        self.num_workers = int(loaders.get("num_workers", 1))
        for phase in ("train", "val", "test"):
            if phase in loaders:
                check_keys(_section(loaders, phase, self.source), PHASE_KEYS, f"loaders.{phase}", self.source)
        if "expand_dims" in loaders and not self.whole_images:
            self.note("loaders.expand_dims", "only DSB2018Dataset read it; samples always carry a channel axis.")

    def slice_builder(self, phase: str) -> dict[str, Any]:
        where = f"loaders.{phase}.slice_builder"
        section = _section(_section(self.loaders_section, phase, self.source), "slice_builder", self.source)
        if self.whole_images:
            if section:
                self.note(where, "DSB2018Dataset ignored the slice builder; it is ignored here too.")
            return {}
        if not section:
            raise ConfigKeyError(f"{self.source}: {where} is missing; it gives patch_shape and stride_shape.")
        check_keys(section, SLICE_BUILDER_KEYS, where, self.source)
        name = check_name(section.get("name"), SLICE_BUILDERS, f"{where}.name", self.source)
        patch = _shape(section.get("patch_shape"), f"{where}.patch_shape", self.source)
        stride = _shape(section.get("stride_shape", patch), f"{where}.stride_shape", self.source)
        halo = _shape(section.get("halo_shape", [0, 0, 0]), f"{where}.halo_shape", self.source)
        if self.spatial_dims == 2 and patch[0] != 1:
            raise ConfigKeyError(
                f"{self.source}: {where}.patch_shape {patch} must be [1, Y, X] for the 2D model "
                f"{self.network_name}, which sees one z-slice at a time."
            )
        filtered = name == "FilterSliceBuilder"
        if not filtered and ("threshold" in section or "slack_acceptance" in section):
            self.note(
                where,
                "threshold and slack_acceptance apply to FilterSliceBuilder only; ignored, as pytorch-3dunet did.",
            )
        if "skip_shape_check" in section:
            self.note(f"{where}.skip_shape_check", "patch shapes are never restricted here; no effect.")
        return {
            "patch": patch,
            "stride": stride,
            "halo": halo,
            "threshold": float(section.get("threshold", 0.6)) if filtered else None,
            "slack_acceptance": float(section.get("slack_acceptance", 0.01)),
            "ignore_index": section.get("ignore_index") if filtered else None,
            "has_halo": "halo_shape" in section,
        }

    def transforms(self, phase: str, size_ref: str, spatial_dims: int, squeeze: bool):
        where = f"loaders.{phase}.transformer"
        transformer = _section(_section(self.loaders_section, phase, self.source), "transformer", self.source)
        if not transformer:
            raise ConfigKeyError(f"{self.source}: {where} is missing; it lists the raw and label transforms.")
        if phase != "test" and "label" not in transformer:
            raise ConfigKeyError(f"{self.source}: {where}.label is missing; list the label transforms.")
        if self.weight_key is None and "weight" in transformer:
            raise ConfigKeyError(f"{self.source}: {where}.weight needs loaders.weight_internal_path.")
        chain = convert_transformer(
            transformer,
            where,
            self.source,
            spatial_dims=spatial_dims,
            global_normalization=self.global_normalization and not self.whole_images,
            spatial_size=size_ref,
            crop_size=("@crop_size", self.crop_size) if self.crop_size is not None else None,
            squeeze_z=squeeze,
        )
        self.notes.extend(chain.notes)
        return chain

    # ---- training -------------------------------------------------------------------------------------------
    def train(self) -> dict[str, Any]:
        source, loaders = self.source, self.loaders_section
        for key in ("loss", "eval_metric", "optimizer", "trainer"):
            _section(self.config, key, source, required=True)
        for phase in ("train", "val"):
            _section(loaders, phase, source, required=True)
        trainer = _section(self.config, "trainer", source)
        check_keys(trainer, TRAINER_KEYS, "trainer", source)
        for key in ("checkpoint_dir", "max_num_epochs", "max_num_iterations"):
            if trainer.get(key) is None:
                raise ConfigKeyError(f"{source}: trainer.{key} is missing.")
        train_files = _file_paths(_section(loaders, "train", source), "loaders.train", source)
        val_files = _file_paths(_section(loaders, "val", source), "loaders.val", source)
        shared = sorted(set(train_files) & set(val_files))
        if shared:
            raise ConfigKeyError(
                f"{source}: loaders.train.file_paths and loaders.val.file_paths share {shared}; "
                "validation data must not be trained on."
            )
        self.notes.extend(_missing_paths(train_files, "loaders.train.file_paths"))
        self.notes.extend(_missing_paths(val_files, "loaders.val.file_paths"))

        loss = convert_loss(_section(self.config, "loss", source), source, weight_map=self.weight_key is not None)
        metric = convert_eval_metric(_section(self.config, "eval_metric", source), source, self.out_channels)
        optimizer = convert_optimizer(_section(self.config, "optimizer", source), source)
        scheduler_section = _section(self.config, "lr_scheduler", source)
        scheduler = convert_lr_scheduler(scheduler_section, source) if scheduler_section else None
        for component in (loss, metric, optimizer):
            self.notes.extend(component.notes)
        metric_higher = bool(METRICS[_section(self.config, "eval_metric", source)["name"]].higher_is_better)
        higher = trainer.get("eval_score_higher_is_better")
        if higher is None:
            higher = metric_higher
        elif bool(higher) != metric_higher:
            self.note(
                "trainer.eval_score_higher_is_better",
                f"{'higher' if higher else 'lower'} values count as "
                f"better, as configured, although the metric is better when "
                f"{'higher' if metric_higher else 'lower'}.",
            )

        self.crop_size = _first_crop(_section(_section(loaders, "train", source), "transformer", source))
        train_sb = self.slice_builder("train")
        val_sb = self.slice_builder("val")
        dims = 2 if self.whole_images else 3
        squeeze = self.spatial_dims == 2 and not self.whole_images
        train_chain = self.transforms("train", "@patch_size", dims, squeeze)
        val_chain = self.transforms("val", "@val_patch_size", dims, squeeze)
        if self.weight_key is not None:
            train_chain.transforms.append({"_target_": "ConcatItemsd", "keys": ["label", "weight"], "name": "label"})
        for phase, sb in (("train", train_sb), ("val", val_sb)):
            if sb.get("has_halo"):
                self.note(
                    f"loaders.{phase}.slice_builder.halo_shape",
                    "pytorch-3dunet used halos only at prediction; ignored.",
                )
        self._random_scale(train_chain.transforms, train_sb)
        self._trainer_notes(trainer)
        if "output_dir" in loaders:
            self.note("loaders.output_dir", "used by the prediction (inference.json) only.")

        ckpt_dir, resume = self._checkpoint_dir(trainer)
        options: dict[str, Any] = {
            "imports": ["$import os", "$import torch", "$import monai", "$import unet3d_monai"],
            "train_files": train_files,
            "val_files": val_files,
            "raw_key": self.raw_key,
            "label_key": self.label_key,
            "weight_key": self.weight_key,
            "ckpt_dir": ckpt_dir,
            "output_dir": "$os.path.join(@ckpt_dir, 'logs')",
            "seed": int(self.config.get("manual_seed") or 0),
            "max_num_epochs": int(trainer["max_num_epochs"]),
            "max_num_iterations": int(trainer["max_num_iterations"]),
            "validate_after_iters": int(trainer.get("validate_after_iters", DEFAULT_VALIDATE_AFTER_ITERS)),
            "log_after_iters": int(trainer.get("log_after_iters", DEFAULT_LOG_AFTER_ITERS)),
            "validate_iters": trainer.get("validate_iters"),
        }
        if self.crop_size is not None:
            options["crop_size"] = self.crop_size
        if not self.whole_images:
            options.update(
                {
                    "patch_size": train_sb["patch"],
                    "stride_size": train_sb["stride"],
                    "threshold": train_sb["threshold"],
                    "slack_acceptance": train_sb["slack_acceptance"],
                    "val_patch_size": val_sb["patch"],
                    "val_stride_size": val_sb["stride"],
                    "val_threshold": val_sb["threshold"],
                    "val_slack_acceptance": val_sb["slack_acceptance"],
                    "global_normalization": self.global_normalization,
                }
            )
        options.update(
            {
                "batch_size": self.batch_size,
                "num_workers": self.num_workers,
                "learning_rate": float(_section(self.config, "optimizer", source).get("learning_rate", 1e-3)),
                "device": self.device(),
                "amp": "$torch.device(@device).type == 'cuda'",
                "resume": resume,
                "pretrained_ckpt": trainer.get("pre_trained"),
                "in_channels": self.in_channels,
                "out_channels": self.out_channels,
            }
        )
        components: dict[str, Any] = {"network_def": self.network_def}
        components["network"] = (
            "$(unet3d_monai.compat.load_network_weights(@network_def, @pretrained_ckpt) if @pretrained_ckpt "
            "else @network_def).to(@device)"
        )
        if loss.expression is None:
            components["loss"] = loss.config
        else:
            components["loss_def"] = loss.config
            components["loss"] = loss.expression
        components["optimizer"] = optimizer.config
        components["val_metric"] = metric.config
        components["higher_is_better"] = bool(higher)
        if scheduler is not None:
            components["lr_scheduler"] = scheduler.config
        save_dict = {"network": "@network", "optimizer": "@optimizer"}
        if scheduler is not None:
            save_dict["lr_scheduler"] = "@lr_scheduler"
        components["checkpointer"] = {
            "_target_": "unet3d_monai.handlers.BestAndLastCheckpointer",
            "save_dir": "@ckpt_dir",
            "network": "@network",
            "save_dict": save_dict,
            "higher_is_better": "@higher_is_better",
            "validator": "@validate#evaluator",
        }
        components["summary_writer"] = {"_target_": "torch.utils.tensorboard.SummaryWriter", "log_dir": "@output_dir"}
        components["train"] = self._train_section(train_chain, save_dict, train_sb)
        components["validate"] = self._validate_section(val_chain, scheduler, val_sb)
        config = {**options, **components}
        config["initialize"] = [
            "$unet3d_monai.bundle.check_cli_overrides()",
            "$monai.utils.set_determinism(seed=@seed)",
            "$os.makedirs(@ckpt_dir, exist_ok=True)",
        ]
        config["training"] = ["$@train#trainer.run()"]
        config["run"] = "@training"
        config["finalize"] = ["$@summary_writer.close()"]
        return config

    def _dataset(self, phase: str, chain, slice_builder: Mapping) -> dict[str, Any]:
        chain_ref = "@train#preprocessing" if phase == "train" else "@validate#preprocessing"
        prefix = "" if phase == "train" else "val_"
        files = f"@{phase}_files"
        if self.whole_images:
            return {
                "_target_": "Dataset",
                "data": f"$unet3d_monai.data.make_datalist({files})",
                "transform": chain_ref,
            }
        dataset: dict[str, Any] = {
            "_target_": "unet3d_monai.data.HDF5PatchDataset",
            "files": files,
            "patch_size": f"@{prefix}patch_size",
            "stride": f"@{prefix}stride_size",
            "raw_key": "@raw_key",
            "label_key": "@label_key",
            "transform": chain_ref,
            "threshold": f"@{prefix}threshold",
            "slack_acceptance": f"@{prefix}slack_acceptance",
            "compute_stats": "@global_normalization",
            "ignore_index": slice_builder["ignore_index"],
        }
        if chain.stats_percentiles is not None:
            dataset["stats_percentiles"] = list(chain.stats_percentiles)
        if phase == "train":
            dataset["weight_key"] = "@weight_key"
        return dataset

    def _load(self) -> list[dict[str, Any]]:
        if not self.whole_images:
            return []
        return [
            {
                "_target_": "unet3d_monai.data.LoadHDF5d",
                "keys": ["image", "label"],
                "hdf5_keys": ["@raw_key", "@label_key"],
                "spatial_dims": 2,
            }
        ]

    def _train_section(self, chain, save_dict: dict[str, str], slice_builder: Mapping) -> dict[str, Any]:
        load_dict = {**save_dict, "checkpointer": "@checkpointer"}
        return {
            "preprocessing": {"_target_": "Compose", "transforms": [*self._load(), *chain.transforms]},
            "dataset": self._dataset("train", chain, slice_builder),
            "dataloader": {
                "_target_": "DataLoader",
                "dataset": "@train#dataset",
                "batch_size": "@batch_size",
                "shuffle": True,
                "num_workers": "@num_workers",
                "persistent_workers": "$@num_workers > 0",
            },
            "inferer": {"_target_": "SimpleInferer"},
            "handlers": [
                {
                    "_target_": "unet3d_monai.handlers.TrainingStateLoader",
                    "_disabled_": "$not unet3d_monai.bundle.as_bool(@resume, 'resume')",
                    "load_path": "$unet3d_monai.bundle.resume_checkpoint(@resume, @ckpt_dir)",
                    "load_dict": load_dict,
                    "map_location": "@device",
                },
                {
                    "_target_": "ValidationHandler",
                    "validator": "@validate#evaluator",
                    "epoch_level": False,
                    "interval": "@validate_after_iters",
                },
                {
                    "_target_": "unet3d_monai.compat.TrainingLimits",
                    "validator": "@validate#evaluator",
                    "validate_after_iters": "@validate_after_iters",
                    "max_iterations": "@max_num_iterations",
                    "optimizer": "@optimizer",
                },
                {"_target_": "unet3d_monai.handlers.StopOnNonFiniteLoss"},
                "@checkpointer",
                {"_target_": "unet3d_monai.handlers.LossProgressBar", "persist": True},
                {
                    "_target_": "StatsHandler",
                    "tag_name": "train_loss",
                    "iteration_log": False,
                    "output_transform": "$monai.handlers.from_engine(['loss'], first=True)",
                },
                {
                    "_target_": "TensorBoardStatsHandler",
                    "summary_writer": "@summary_writer",
                    "tag_name": "train_loss",
                    "iteration_log": "@log_after_iters",
                    "epoch_log": False,
                    "output_transform": "$lambda output: float(output['loss'])",
                },
                {
                    "_target_": "unet3d_monai.handlers.LearningRateLogger",
                    "optimizer": "@optimizer",
                    "summary_writer": "@summary_writer",
                },
            ],
            "trainer": {
                "_target_": "SupervisedTrainer",
                "device": "@device",
                "max_epochs": "@max_num_epochs",
                "train_data_loader": "@train#dataloader",
                "network": "@network",
                "optimizer": "@optimizer",
                "loss_function": "@loss",
                "inferer": "@train#inferer",
                "amp": "@amp",
                "train_handlers": "@train#handlers",
                "decollate": False,
            },
        }

    def _validate_section(self, chain, scheduler, slice_builder: Mapping) -> dict[str, Any]:
        activation = {"sigmoid": {"sigmoid": True}, "softmax": {"softmax": True}}.get(self.activation)
        post = [{"_target_": "Activationsd", "keys": "pred", **activation}] if activation else []
        handlers: list[Any] = []
        if scheduler is not None:
            handlers.append(
                {
                    "_target_": "LrScheduleHandler",
                    "lr_scheduler": "@lr_scheduler",
                    "epoch_level": True,
                    "step_transform": scheduler.expression,
                }
            )
        handlers += [
            {"_target_": "StatsHandler", "iteration_log": False},
            {"_target_": "TensorBoardStatsHandler", "summary_writer": "@summary_writer", "iteration_log": False},
            {"_target_": "unet3d_monai.handlers.TensorBoardSliceHandler", "summary_writer": "@summary_writer"},
        ]
        return {
            "preprocessing": {"_target_": "Compose", "transforms": [*self._load(), *chain.transforms]},
            "dataset": self._dataset("val", chain, slice_builder),
            "dataloader": {
                "_target_": "DataLoader",
                "dataset": "@validate#dataset",
                "batch_size": "@batch_size",
                "shuffle": False,
                "num_workers": "@num_workers",
            },
            "inferer": {"_target_": "SimpleInferer"},
            "postprocessing": {"_target_": "Compose", "transforms": post},
            "handlers": handlers,
            "evaluator": {
                "_target_": "SupervisedEvaluator",
                "device": "@device",
                "val_data_loader": "@validate#dataloader",
                "epoch_length": "$None if @validate_iters is None else min(len(@validate#dataloader), "
                "int(@validate_iters) + 1)",
                "network": "@network",
                "inferer": "@validate#inferer",
                "postprocessing": "@validate#postprocessing",
                "key_val_metric": {"val_metric": "@val_metric"},
                "metric_cmp_fn": "$(lambda current, best: current > best) if @higher_is_better else "
                "(lambda current, best: current < best)",
                "val_handlers": "@validate#handlers",
                "amp": "@amp",
            },
        }

    def _random_scale(self, transforms: list[dict[str, Any]], sb: Mapping) -> None:
        loaders = self.loaders_section
        scale = loaders.get("random_scale")
        if scale is None:
            if "random_scale_probability" in loaders:
                self.note("loaders.random_scale_probability", "no effect without random_scale, as in pytorch-3dunet.")
            return
        if self.whole_images:
            self.note("loaders.random_scale", "DSB2018Dataset ignored it; ignored here too.")
            return
        prob = float(loaders.get("random_scale_probability", 0.5))
        self.note(
            "loaders.random_scale",
            f"approximated by a random zoom of each axis by +-{int(scale)} voxels of "
            "the patch (MONAI RandZoomd), applied before the other transforms.",
        )
        keys = ["image", "label"] + (["weight"] if self.weight_key is not None else [])
        transforms.insert(
            0,
            {
                "_target_": "RandZoomd",
                "keys": keys,
                "prob": prob,
                "min_zoom": f"$[p / (p + {int(scale)}) for p in @patch_size]",
                "max_zoom": f"$[p / max(p - {int(scale)}, 1) for p in @patch_size]",
                "mode": ["trilinear"] + ["nearest"] * (len(keys) - 1),
                "padding_mode": "reflect",
                "keep_size": True,
            },
        )

    def _trainer_notes(self, trainer: Mapping) -> None:
        if "tensorboard_formatter" in trainer:
            self.note(
                "trainer.tensorboard_formatter",
                "TensorBoard shows the middle z-slice of every channel of the "
                "first validation sample's input, target and prediction.",
            )
        if not trainer.get("skip_train_validation", False):
            self.note(
                "trainer.skip_train_validation",
                "training batches are not scored; the metric is computed on the validation set only.",
            )
        if "max_val_images" in trainer:
            self.note("trainer.max_val_images", "one validation sample is shown in TensorBoard.")
        for key in ("num_iterations", "num_epoch"):
            if key in trainer:
                self.note(f"trainer.{key}", "counters start at 0; resume restores them from last.pt.")
        self.note(
            "trainer.max_num_iterations",
            "training stops after exactly this many iterations (pytorch-3dunet "
            "ran one more) and validates the last one.",
        )

    def _checkpoint_dir(self, trainer: Mapping) -> tuple[str, bool]:
        ckpt_dir = str(trainer["checkpoint_dir"])
        resume = trainer.get("resume")
        if resume is None:
            return ckpt_dir, False
        resume_path = Path(str(resume))
        folder = resume_path.parent if resume_path.suffix else resume_path
        if resume_path.suffix and resume_path.name != "last.pt":
            self.note(
                "trainer.resume",
                f"training resumes from {folder / 'last.pt'} (this package's training "
                f"state), not from {resume_path.name}; fine-tune from pytorch-3dunet "
                "weights with pre_trained.",
            )
        else:
            self.note(
                "trainer.resume", f"resumes from {folder / 'last.pt'} and checkpoints there, as pytorch-3dunet did."
            )
        return str(folder), True

    # ---- prediction -----------------------------------------------------------------------------------------
    def inference(self, from_training: bool) -> dict[str, Any]:
        source, loaders = self.source, self.loaders_section
        predictor = _section(self.config, "predictor", source)
        check_keys(predictor, PREDICTOR_KEYS, "predictor", source)
        name = check_name(predictor.get("name", "StandardPredictor"), PREDICTORS, "predictor.name", source)
        test = _section(loaders, "test", source)
        if from_training and not test:
            phase, inputs = "val", None
        else:
            if not test:
                raise ConfigKeyError(f"{source}: loaders.test is missing; it gives the files to predict.")
            phase, inputs = "test", _file_paths(test, "loaders.test", source)
            self.notes.extend(_missing_paths(inputs, "loaders.test.file_paths"))
        roi, overlap = self._window(phase)
        transformer = _section(_section(loaders, phase, source), "transformer", source)
        raw = transformer.get("raw")
        if phase == "test" and set(transformer) - {"raw"}:
            self.note("loaders.test.transformer", "only the raw list is used at prediction; the others are ignored.")
        mode, scale, offset, notes = prediction_normalization(
            raw, f"loaders.{phase}.transformer", source, self.global_normalization or self.whole_images
        )
        self.notes.extend(notes)
        segmentation = self.out_channels == 1 and "threshold" or "argmax"
        save_segmentation = bool(predictor.get("save_segmentation", name == "DSB2018Predictor"))
        threshold = 0.5
        if name == "DSB2018Predictor":
            segmentation = "foreground_components"
            threshold = float(predictor.get("pmaps_thershold", 0.5))
        elif "pmaps_thershold" in predictor:
            self.note("predictor.pmaps_thershold", "only DSB2018Predictor read it; ignored.")
        if save_segmentation:
            self.note(
                "predictor.save_segmentation",
                "the segmentation goes to the dataset 'segmentation' (uint32) "
                "beside the probabilities in 'predictions'; pytorch-3dunet "
                "wrote it in place of the probabilities.",
            )
        output_dataset = str(predictor.get("output_dataset", "predictions"))
        if output_dataset == "segmentation":
            raise ConfigKeyError(
                f"{source}: predictor.output_dataset 'segmentation' is the name of the "
                "segmentation dataset; choose another name."
            )
        channel = predictor.get("prediction_channel")
        if channel is not None and not 0 <= int(channel) < self.out_channels:
            raise ConfigKeyError(
                f"{source}: predictor.prediction_channel {channel} does not exist: the model has "
                f"{self.out_channels} output channels."
            )
        for key, message in (
            ("patch_halo", "replaced by Gaussian blending of overlapping windows."),
            (
                "performance_metric",
                "not computed at prediction; score the written segmentation with unet3d_monai.metrics (e.g. MeanIoU).",
            ),
            ("gt_internal_path", "not read: no score is computed at prediction."),
        ):
            if key in predictor:
                self.note(f"predictor.{key}", message)
        blockwise = self.dataset == "LazyHDF5Dataset" or name == "LazyPredictor"
        if blockwise:
            self.note(
                "predictor.name" if name == "LazyPredictor" else "loaders.dataset",
                "prediction runs block by block from disk (--blockwise true), never holding the volume.",
            )
        if "num_workers" in loaders and not from_training:
            self.note("loaders.num_workers", "prediction reads windows from the volume directly; no effect.")
        ckpt_path = self.config.get("model_path")
        if from_training:
            ckpt = "$os.path.join(@ckpt_dir, 'model.pt')"
        else:
            if ckpt_path is None:
                raise ConfigKeyError(f"{source}: model_path is missing; it names the checkpoint to predict with.")
            ckpt = str(ckpt_path)
        network = "unet3d_monai.compat.load_network_weights(@network_def, @ckpt_path)"
        if scale != 1.0 or offset != 0.0 or channel is not None:
            network = (
                f"unet3d_monai.compat.PredictionNetwork({network}, input_scale={scale}, input_offset={offset}, "
                "output_channel=@prediction_channel)"
            )
        options: dict[str, Any] = {"imports": ["$import os", "$import torch", "$import monai", "$import unet3d_monai"]}
        if from_training:
            options["ckpt_dir"] = self._checkpoint_dir(_section(self.config, "trainer", source))[0]
        output_dir = loaders.get("output_dir")
        options.update(
            {
                "input": inputs,
                "ckpt_path": ckpt,
                "output_dir": None if output_dir is None else str(output_dir),
                "output_dataset": output_dataset,
                "raw_key": self.raw_key,
                "device": self.device(),
                "in_channels": self.in_channels,
                "out_channels": self.out_channels,
                "roi_size": roi,
                "overlap": overlap,
                "sw_batch_size": self.batch_size,
                "tta": False,
                "amp": None,
                "normalization": mode,
                "prediction_channel": None if channel is None else int(channel),
                "save_segmentation": save_segmentation,
                "segmentation_mode": segmentation,
                "threshold": threshold,
                "min_size": 0,
                "blockwise": blockwise,
                "block_shape": None,
                "resume": False,
                "overwrite": False,
                "output_dtype": "float32",
                "progress": True,
            }
        )
        components = {
            "network_def": self.network_def,
            "network": f"${network}.to(@device)",
            "inferer": {
                "_target_": "unet3d_monai.inference.FittedSlidingWindowInferer",
                "roi_size": "@roi_size",
                "overlap": "@overlap",
                "mode": "gaussian",
                "sigma_scale": 0.125,
                "sw_batch_size": "@sw_batch_size",
                "sw_device": "@device",
                "device": "cpu",
                "progress": "@progress",
            },
            "predictor": {
                "_target_": "unet3d_monai.inference.VolumePredictor",
                "network": "@network",
                "inferer": "@inferer",
                "output_dir": "$@output_dir or '.'",
                **{
                    key: f"@{key}"
                    for key in (
                        "raw_key",
                        "normalization",
                        "device",
                        "tta",
                        "amp",
                        "blockwise",
                        "block_shape",
                        "resume",
                        "overwrite",
                        "output_dtype",
                        "save_segmentation",
                        "segmentation_mode",
                        "threshold",
                        "min_size",
                        "progress",
                    )
                },
            },
        }
        config = {**options, **components}
        config["initialize"] = ["$unet3d_monai.bundle.check_cli_overrides()"]
        config["run"] = ["$unet3d_monai.compat.predict_files(@predictor, @input, @output_dir, @output_dataset)"]
        return config

    def _window(self, phase: str) -> tuple[list[int], list[float] | float]:
        where = f"loaders.{phase}.slice_builder"
        if self.whole_images:
            self.note(
                where,
                f"images are predicted with Gaussian-blended windows of {DSB2018_SIZE[0]}x"
                f"{DSB2018_SIZE[1]} (overlap 0.25) instead of whole.",
            )
            return [1, *DSB2018_SIZE], 0.25
        sb = self.slice_builder(phase)
        patch, stride, halo = sb["patch"], sb["stride"], sb["halo"]
        if phase == "val":
            return patch, 0.25
        if sb["threshold"] is not None:
            self.note(f"{where}.name", "prediction predicts every window; the foreground filter applies to training.")
        if self.spatial_dims == 2 and halo[0] != 0:
            self.note(f"{where}.halo_shape", "a 2D model sees one z-slice: the z halo is dropped.")
            halo = [0, *halo[1:]]
        roi = [p + 2 * h for p, h in zip(patch, halo)]
        overlap = [round(max(0.0, 1.0 - s / r), 4) for s, r in zip(stride, roi)]
        if sb["has_halo"] and any(halo):
            self.note(
                f"{where}.halo_shape",
                f"replaced by Gaussian blending: windows of patch_shape + 2 x "
                f"halo_shape = {roi} at stride_shape, overlapping by {overlap}.",
            )
        if any(s > r for s, r in zip(stride, roi)):
            self.note(f"{where}.stride_shape", "larger than the window; windows are placed without gaps.")
        return roi, overlap


def _versions() -> dict[str, str]:
    found = {}
    for package in ("unet3d-monai", "monai", "torch", "numpy", "h5py", "pytorch-ignite"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "unknown"
    return found


def _metadata(converter: _Converter, is_train: bool) -> dict[str, Any]:
    versions = _versions()
    divisor = 2 ** (converter.levels - 1)
    shape = [f"{divisor}*n"] * converter.spatial_dims
    return {
        "schema": "https://github.com/Project-MONAI/MONAI-extra-test-data/releases/download/0.8.1/"
        "meta_schema_20240725.json",
        "version": "0.1.0",
        "changelog": {"0.1.0": f"converted from the pytorch-3dunet configuration {converter.source}"},
        "monai_version": versions["monai"],
        "pytorch_version": versions["torch"].split("+")[0],
        "numpy_version": versions["numpy"],
        "required_packages_version": {
            "unet3d-monai": versions["unet3d-monai"],
            "h5py": versions["h5py"],
            "pytorch-ignite": versions["pytorch-ignite"],
        },
        "supported_apps": {},
        "name": f"{converter.network_name} converted from {Path(converter.source).name}",
        "task": "training and prediction" if is_train else "prediction",
        "description": f"A {converter.network_name} bundle converted from the pytorch-3dunet configuration "
        f"{converter.source} by unet3d-monai convert.",
        "authors": "unet3d-monai convert",
        "copyright": "as the source configuration",
        "data_type": "hdf5",
        "image_classes": f"{converter.in_channels} channel(s) of intensities",
        "label_classes": "as the source configuration's label transforms produce",
        "pred_classes": f"{converter.out_channels} channel(s)",
        "eval_metrics": {},
        "intended_use": "Research use",
        "references": [
            "Wolny et al., Accurate and versatile 3D segmentation of plant tissues at cellular resolution, eLife 2020"
        ],
        "network_data_format": {
            "inputs": {
                "image": {
                    "type": "image",
                    "format": "magnitude",
                    "modality": "microscopy",
                    "num_channels": converter.in_channels,
                    "spatial_shape": shape,
                    "dtype": "float32",
                    "value_range": [],
                    "is_patch_data": True,
                    "channel_def": {str(c): "image" for c in range(converter.in_channels)},
                }
            },
            "outputs": {
                "pred": {
                    "type": "image",
                    "format": "segmentation" if converter.activation else "magnitude",
                    "num_channels": converter.out_channels,
                    "spatial_shape": shape,
                    "dtype": "float32",
                    "value_range": [],
                    "is_patch_data": True,
                    "channel_def": {str(c): "logits" for c in range(converter.out_channels)},
                }
            },
        },
    }


def convert_pytorch3dunet_config(config: str | os.PathLike | Mapping, source: str | None = None) -> ConvertedBundle:
    """Convert a pytorch-3dunet train or test configuration into a bundle.

    Args:
        config: a YAML file, or its parsed content.
        source: the name messages give the configuration (default: the file name, or "the configuration").

    Returns:
        the bundle: ``train`` for a train configuration (one with ``trainer`` or ``loaders.train``), ``inference``
        always (a train configuration predicts with the best weights it trains), ``metadata``, and ``notes``, one for
        every key without an exact equivalent.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not YAML.
        ConfigKeyError: an unknown key or name (the message names it and the closest valid names), or a missing
            section.

    Example::

        bundle = convert_pytorch3dunet_config("3DUnet_confocal_boundary/train_config.yml")
        for note in bundle.notes:
            print(note)
        write_bundle(bundle, "bundles/my_boundary")
    """
    if isinstance(config, (str, os.PathLike)):
        source = source or str(config)
        config = read_pytorch3dunet_config(config)
    elif not isinstance(config, Mapping):
        raise ValueError(f"expected a pytorch-3dunet configuration (a YAML file or a mapping), got {config!r}.")
    source = source or "the configuration"
    check_keys(config, TOP_KEYS, "", source)
    converter = _Converter(config, source)
    converter.model()
    converter.loaders()
    loaders = converter.loaders_section
    is_train = "trainer" in config or "train" in loaders
    train = converter.train() if is_train else None
    inference = converter.inference(from_training=is_train)
    if is_train and "model_path" in config:
        converter.note(
            "model_path",
            "the inference bundle predicts with the best weights of this training, "
            "<checkpoint_dir>/model.pt; --ckpt_path chooses others.",
        )
    notes = list(dict.fromkeys(converter.notes))
    return ConvertedBundle(source, train, inference, _metadata(converter, is_train), notes)


def _readme(bundle: ConvertedBundle, bundle_dir: str) -> str:
    lines = [
        f"# {bundle.metadata['name']}",
        "",
        f"Converted from the pytorch-3dunet configuration `{bundle.source}` by `unet3d-monai convert` "
        f"(unet3d-monai {bundle.metadata['required_packages_version']['unet3d-monai']}). The network, loss, metric, "
        "optimizer, schedule, data and augmentations are those of the configuration, built from unet3d-monai's "
        "MONAI components; the list below says where the bundle differs.",
        "",
        "## Run",
        "",
        "```bash",
    ]
    if bundle.train is not None:
        lines += [
            f"python -m monai.bundle run training --config_file {bundle_dir}/train.json",
            f"python -m monai.bundle run --config_file {bundle_dir}/inference.json --input <file, folder or glob>",
        ]
    else:
        lines.append(f"python -m monai.bundle run --config_file {bundle_dir}/inference.json")
    examples = (
        "`--max_num_iterations 1000`, `--train_files \"['data/train']\"`, `--ckpt_path best.pt`"
        if bundle.train is not None
        else '`--input "data/test/*.h5"`, `--ckpt_path best_checkpoint.pytorch`, `--output_dir out`'
    )
    lines += [
        "```",
        "",
        f"Every top-level entry listed under `options` in the JSON files can be overridden on the command line "
        f"({examples}); a misspelt option is refused. Training writes the best weights to `<ckpt_dir>/model.pt` "
        "(pytorch-3dunet: `best_checkpoint.pytorch`) and the training state to `<ckpt_dir>/last.pt` "
        "(`--resume true` continues from it); prediction writes `<stem>_predictions.h5` with the dataset "
        "`predictions` (and `segmentation` with `--save_segmentation true`), refusing to replace an existing file "
        "unless `--overwrite true`.",
        "",
        "## What differs from pytorch-3dunet",
        "",
    ]
    lines += [f"- `{note.key}`: {note.message}" for note in bundle.notes] or ["- nothing."]
    return "\n".join(lines) + "\n"


def _dump(content: Mapping) -> str:
    return json.dumps(content, indent=4) + "\n"


def write_bundle(bundle: ConvertedBundle, bundle_dir: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write ``bundle`` as a bundle folder: ``train.json`` (train configurations), ``inference.json``,
    ``metadata.json``, ``logging.conf`` and ``README.md``.

    The files are written to a temporary folder beside ``bundle_dir`` and moved into place at the end.

    Raises:
        FileExistsError: ``bundle_dir`` exists and is not an empty folder, and ``overwrite`` is False.
    """
    bundle_dir = Path(bundle_dir)
    if bundle_dir.exists() and not (bundle_dir.is_dir() and not any(bundle_dir.iterdir())) and not overwrite:
        raise FileExistsError(f"{bundle_dir} already exists and is not empty; choose another folder or overwrite it.")
    bundle_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{bundle_dir.name}.", dir=bundle_dir.parent))
    try:
        if bundle.train is not None:
            (staging / "train.json").write_text(_dump(bundle.train))
        (staging / "inference.json").write_text(_dump(bundle.inference))
        (staging / "metadata.json").write_text(_dump(bundle.metadata))
        (staging / "logging.conf").write_text(LOGGING_CONF)
        (staging / "README.md").write_text(bundle.readme(bundle_dir))
        replace_path(staging, bundle_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return bundle_dir
