"""Segmentation quality of the bundles on test volumes nothing was chosen on, next to the best simple method and
pytorch-3dunet, as means and spreads over training seeds.

For each bundle, as a user would, in subprocesses:

1. generate a synthetic dataset: ``python -m unet3d_monai.data.sample <task> DIR --seed SEED`` (default seed 3141,
   on which no default of the project was chosen; the bundles' embedded data use seed 0). Its ``train/`` volumes
   train, its ``val/`` volumes choose everything that is chosen (the checkpoint, the segmentation settings, the
   baseline's variant and settings), its ``test/`` volumes are only scored;
2. for each training seed (``--train_seeds``, default 0 1 2): train with ``python -m monai.bundle run training
   --config_file bundles/<task>/train.json --dataset_dir DIR --seed S ...`` with the bundle's defaults (plus
   ``--train_args`` for experiments; the training chooses its segmentation settings on ``val/`` and records them),
   then predict the test volumes with ``python -m monai.bundle run --config_file bundles/<task>/inference.json
   --input DIR/test --ckpt_path .../model.pt --save_segmentation true`` (no segmentation for denoising);

then score the bundle's own segmentation with scikit-image (``_scores.py``): adapted Rand error for the
boundary bundles, AP at IoU 0.5 and foreground Dice for nuclei and dsb2018_2d, Dice per class for multiclass,
PSNR for denoising. Next to it:

- the best simple method (no learning; ``_baselines.py``, ``_postprocessing.py``): Gaussian-smoothed raw (sigma 1
  or 2 voxels) segmented by the bundle's own segmenter with its settings chosen on ``val/``, or by Otsu and
  watersheds, multi-Otsu classes, the noisy input or its smoothing; the variant that scores best on ``val/`` is
  reported on ``test/``;
- pytorch-3dunet 1.9.6 (``_reference.py``; optional, ``pip install --no-deps pytorch3dunet==1.9.6``) trained with
  each seed on the same files with the recipe of its matching example, the same number of iterations, patch
  and batch size, its checkpoint selected by its own validation, then its ``StandardPredictor`` and the bundle's
  segmenter with its settings chosen on pytorch-3dunet's own predictions of ``val/``.

Prints one markdown table (stdout; ``mean ± sd (n=seeds)``) and progress lines (stderr); never passes or fails.
Usage::

    python benchmarks/quality.py [--bundle NAME ...] [--work_dir DIR] [--seed 3141] [--train_seeds 0 1 2]
        [--no_reference] [--train_args "--epochs 1 --epoch_length 2 --val_interval 1"] [--reference_iterations N]
        [--predict_args "..."] [--json OUT.json]
        [--case default thin_slab anisotropic scale2x continuous_membranes]   # generated cases
        [--plan]                                                  # planned vs fixed defaults (first seed)
        [--float32]                                               # the defaults next to float32 (first seed)
    python benchmarks/quality.py --rescore EARLIER.json [--json OUT.json]   # again from the saved predictions
    python benchmarks/quality.py --self_check     # the scorers against hand-computed values
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import _baselines
import _cases
import _postprocessing
import _reference
import _scores
import h5py
import numpy as np
from monai.bundle import ConfigParser

from unet3d_monai.planning import nearest_to_plan
from unet3d_monai.segmentation.segmenter import Segmenter

ROOT = Path(__file__).resolve().parents[1]
FIXED, FLOAT32 = "fixed defaults", "float32"
VARIANTS = (FIXED, FLOAT32)  # the same bundle trained and predicted otherwise, as extra columns
#: the dataset seed of the reported figures: no default of the project was chosen on its volumes (earlier figures
#: used 1000 and 2000, on which defaults were also chosen)
TEST_SEED = 3141
BUNDLES = ("boundary", "lightsheet_boundary", "nuclei", "denoising", "multiclass", "dsb2018_2d")
_START = time.perf_counter()


def progress(message: str) -> None:
    """A progress line on stderr, stamped with the seconds since the start."""
    print(f"[{time.perf_counter() - _START:7.1f} s] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------------------
# what each bundle is scored on


@dataclass(frozen=True)
class Case:
    """How one bundle is scored.

    Args:
        kind: ``"boundary"`` (cells from a membrane map), ``"instances"`` (nuclei), ``"classes"`` (semantic
            classes) or ``"regression"`` (denoising).
        metrics: the figures shown, in order.
        rank_by: the figures whose mean ranks the baseline's variants (the first metric unless given).
    """

    kind: str
    metrics: tuple[str, ...]
    rank_by: tuple[str, ...] = ()

    def rank(self, scores: dict[str, float]) -> float:
        """The ranking figure of mean ``scores``, larger is better."""
        names = self.rank_by or self.metrics[:1]
        sign = 1.0 if _scores.METRICS[names[0]] == "higher is better" else -1.0
        return sign * float(np.mean([scores[name] for name in names]))


CASES = {
    "boundary": Case("boundary", (_scores.ARAND,)),
    "lightsheet_boundary": Case("boundary", (_scores.ARAND,)),
    "nuclei": Case("instances", (_scores.AP50, _scores.FG_DICE)),
    "dsb2018_2d": Case("instances", (_scores.AP50, _scores.FG_DICE)),
    "multiclass": Case(
        "classes",
        tuple(f"Dice {name}" for name in _scores.CLASS_NAMES.values()),
        rank_by=tuple(f"Dice {name}" for name in _scores.CLASS_NAMES.values()),
    ),
    "denoising": Case("regression", (_scores.PSNR, _scores.PSNR_FIT)),
}


def score(case: Case, truth: np.ndarray, output: np.ndarray, in_clean_units: bool = True) -> dict[str, float]:
    """One method's figures on one test volume (``output``: a segmentation, or a denoised volume)."""
    if case.kind == "boundary":
        return _scores.score_boundary(truth, output)
    if case.kind == "instances":
        return _scores.score_instances(truth, output)
    if case.kind == "classes":
        return _scores.score_classes(truth, output)
    return _scores.score_regression(truth, output, in_clean_units)


def mean_scores(per_volume: list[dict[str, float]]) -> dict[str, float]:
    """The mean of every figure over the test volumes."""
    return {key: float(np.mean([scores[key] for scores in per_volume])) for key in per_volume[0]}


def over_seeds(per_seed: dict[int, dict[str, object]]) -> dict[str, object]:
    """One method trained with several seeds: the mean and the sample standard deviation of each figure over the
    seeds whose run succeeded (``n`` of them), every seed's result under ``seeds``; an error when none did."""
    done = [part for part in per_seed.values() if "error" not in part and "mean" in part]
    result: dict[str, object] = {"seeds": per_seed}
    failed = {seed: part["error"] for seed, part in per_seed.items() if "error" in part}
    if failed:
        result["failed_seeds"] = failed
    if not done:
        return {**result, "error": next(iter(failed.values()), "no seed ran")}
    metrics = done[0]["mean"].keys()
    values = {metric: [float(part["mean"][metric]) for part in done] for metric in metrics}
    result["mean"] = {metric: float(np.mean(v)) for metric, v in values.items()}
    result["sd"] = {metric: float(np.std(v, ddof=1)) if len(v) > 1 else 0.0 for metric, v in values.items()}
    result["n"] = len(done)
    trains = [part["train"]["seconds"] for part in done if isinstance(part.get("train"), dict)]
    if trains:
        result["train"] = {"seconds": float(np.mean(trains))}
    if "precision" in done[0]:
        result["precision"] = done[0]["precision"]
    return result


# ---------------------------------------------------------------------------------------------------------------
# the bundle's facts (only its documented options)


def parse_overrides(args: list[str]) -> dict[str, object]:
    """``["--epochs", "1", "--patch_size", "[16,64,64]"]`` -> ``{"epochs": 1, "patch_size": [16, 64, 64]}``."""
    if len(args) % 2:
        raise SystemExit(f"--train_args/--predict_args must be pairs '--name value', got {args}.")
    overrides = {}
    for name, value in zip(args[::2], args[1::2]):
        if not name.startswith("--"):
            raise SystemExit(f"--train_args/--predict_args: expected an option name '--name', got {name!r}.")
        try:
            overrides[name[2:]] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            overrides[name[2:]] = value
    return overrides


def bundle_facts(config_file: Path, overrides: dict[str, object], keys: tuple[str, ...]) -> dict[str, object]:
    """The values of ``keys`` in a bundle config after the command-line ``overrides``."""
    parser = ConfigParser()
    parser.read_config(str(config_file))
    parser.update({key: value for key, value in overrides.items() if key in parser.get()})
    return {key: parser.get_parsed_content(key) for key in keys}


# ---------------------------------------------------------------------------------------------------------------
# stages


@dataclass
class Run:
    """A subprocess: its command, wall-clock seconds, exit status and log file."""

    command: list[str]
    seconds: float
    returncode: int
    log: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def failure(self) -> str:
        """One line: what failed and where its log is, with the log's last line."""
        lines = Path(self.log).read_text(errors="replace").strip().splitlines()
        last = lines[-1][-200:] if lines else "empty"
        return f"exit status {self.returncode} (log {self.log}: {last})"


def run_logged(command: list[str], log: Path) -> Run:
    """Run ``command`` from the repository root with this checkout's package first on the path."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(log, "w") as out:
        returncode = subprocess.run(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    return Run([str(c) for c in command], time.perf_counter() - start, returncode, str(log))


def generate_dataset(bundle: str, data_dir: Path, seed: int) -> Run:
    """``python -m unet3d_monai.data.sample <bundle> <data_dir> --seed <seed>``."""
    command = [sys.executable, "-m", "unet3d_monai.data.sample", bundle, str(data_dir), "--seed", str(seed)]
    return run_logged(command, data_dir.parent / "logs" / "generate.log")


def train_bundle(bundle: str, data_dir: Path, run_dir: Path, train_args: list[str]) -> Run:
    """The bundle's training command with its defaults, weights in ``run_dir/models``."""
    command = [
        sys.executable, "-m", "monai.bundle", "run", "training",
        "--config_file", f"bundles/{bundle}/train.json",
        "--dataset_dir", str(data_dir),
        "--ckpt_dir", str(run_dir / "models"),
        "--output_dir", str(run_dir / "train_output"),
        *train_args,
    ]  # fmt: skip
    return run_logged(command, run_dir / "logs" / "train.log")


def predict_bundle(bundle: str, case: Case, data_dir: Path, run_dir: Path, predict_args: list[str]) -> Run:
    """The bundle's prediction command on ``data_dir/test`` with the trained ``model.pt``."""
    command = [
        sys.executable, "-m", "monai.bundle", "run",
        "--config_file", f"bundles/{bundle}/inference.json",
        "--input", str(data_dir / "test"),
        "--ckpt_path", str(run_dir / "models" / "model.pt"),
        "--output_dir", str(run_dir / "predictions"),
    ]  # fmt: skip
    if case.kind != "regression":
        command += ["--save_segmentation", "true"]
    return run_logged(command + predict_args, run_dir / "logs" / "predict.log")


def read_test_volume(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(raw, label)`` of a test file (``(1, Y, X)`` for 2D data)."""
    with h5py.File(path, "r") as f:
        return f["raw"][()], f["label"][()]


def read_prediction(path: Path, dataset: str) -> np.ndarray:
    """A dataset (``predictions`` or ``segmentation``) of a ``<stem>_predictions.h5``."""
    with h5py.File(path, "r") as f:
        return f[dataset][()]


def model_record(ckpt_dir: Path) -> dict | None:
    """The record the training writes beside the weights (``<ckpt_dir>/model.json``), None without one."""
    path = ckpt_dir / "model.json"
    return json.loads(path.read_text()) if path.is_file() else None


def normalization_mode(bundle: str, ckpt_dir: Path, overrides: dict[str, object]) -> str:
    """The intensity normalisation the bundle predicts with: the one recorded with the weights when there is
    one, otherwise the ``normalization`` of ``inference.json``."""
    record = model_record(ckpt_dir)
    if record and "normalization" in record:
        return str(record["normalization"])
    return str(
        bundle_facts(ROOT / "bundles" / bundle / "inference.json", overrides, ("normalization",))["normalization"]
    )


def to_raw_units(prediction: np.ndarray, raw: np.ndarray, mode: str) -> np.ndarray:
    """Undo the bundle's input normalisation: the denoising bundle normalises raw and target with the raw
    volume's statistics, so its predictions are in normalised raw units."""
    from unet3d_monai.data import Normalize
    from unet3d_monai.data.stats import VolumeStats

    offset, scale = Normalize(mode).offset_scale(VolumeStats.from_array(raw))
    return prediction * scale + offset


def score_bundle(
    bundle: str, case: Case, test_files: list[Path], run_dir: Path, overrides: dict[str, object]
) -> dict[str, object]:
    """Score the bundle's predictions of every test file; figures per volume and their mean."""
    per_volume = []
    for path in test_files:
        raw, truth = read_test_volume(path)
        output = run_dir / "predictions" / f"{path.stem}_predictions.h5"
        if case.kind == "regression":
            mode = normalization_mode(bundle, run_dir / "models", overrides)
            denoised = to_raw_units(read_prediction(output, "predictions")[0], raw, mode)
            per_volume.append(score(case, truth, denoised.reshape(truth.shape)))
        else:
            per_volume.append(score(case, truth, read_prediction(output, "segmentation").reshape(truth.shape)))
    return {"per_volume": per_volume, "mean": mean_scores(per_volume)}


def baseline(bundle: str, case: Case, data_dir: Path, test_files: list[Path]) -> dict[str, object]:
    """Every no-learning candidate (``_baselines``, and the bundle's own segmenter on smoothed raw with its settings
    chosen on validation): each is scored on the validation volumes, and the one that ranks first there
    (``Case.rank``) is reported on the test volumes."""
    val_files = sorted((data_dir / "val").glob("*.h5"))
    methods = {
        name: (lambda raw, truth, path, m=method: m(raw, truth))
        for name, method in _baselines.candidates(case.kind).items()
    }
    if case.kind in ("boundary", "instances"):
        mode = bundle_facts(ROOT / "bundles" / bundle / "inference.json", {}, ("segmentation_mode",))
        methods.update(_segmenter_baselines(case, mode["segmentation_mode"], data_dir, val_files))
    results = []
    for description, method in methods.items():
        per_volume = []
        for path in val_files:
            raw, truth = read_test_volume(path)
            per_volume.append(score(case, truth, method(raw, truth, path)))
        results.append({"method": description, "validation": mean_scores(per_volume)})
    best = max(results, key=lambda c: case.rank(c["validation"]))
    per_volume = []
    for path in test_files:
        raw, truth = read_test_volume(path)
        per_volume.append(score(case, truth, methods[best["method"]](raw, truth, path)))
    best = {**best, "per_volume": per_volume, "mean": mean_scores(per_volume)}
    return {"candidates": results, "best": best, "chosen_on": [str(p) for p in val_files]}


def _segmenter_baselines(case: Case, mode: str, data_dir: Path, val_files: list[Path]) -> dict[str, object]:
    """The bundle's segmenter on Gaussian-smoothed raw scaled to [0, 1] (``_baselines.intensity_map``), one
    candidate per smoothing, its settings chosen on the validation volumes."""
    methods = {}
    truths = [read_test_volume(path)[1] for path in val_files]
    for sigma in _baselines.SIGMAS:
        maps = [_baselines.intensity_map(read_test_volume(path)[0], sigma) for path in val_files]
        samplings = [_postprocessing.sampling_of(path, m.ndim - 1) for path, m in zip(val_files, maps)]
        choice = _postprocessing.choose_on_validation(case.kind, mode, maps, truths, samplings, data_dir / "train")
        segmenter = choice.segmenter()
        settings = ", ".join(f"{k} {v}" for k, v in choice.settings.items() if k != "mode")
        methods[f"sigma {sigma:g}, {mode} ({settings})"] = lambda raw, truth, path, s=sigma, seg=segmenter: seg(
            _baselines.intensity_map(raw, s), sampling=_postprocessing.sampling_of(path, raw.ndim)
        )
    return methods


def _split_files(data_dir: Path, split: str) -> list[str]:
    return [str(p) for p in sorted((data_dir / split).glob("*.h5"))]


def _prediction_maps(folder: Path, files: list[Path]) -> list[np.ndarray]:
    return [read_prediction(folder / f"{path.stem}_predictions.h5", "predictions") for path in files]


def score_reference(
    bundle: str, case: Case, data_dir: Path, test_files: list[Path], run_dir: Path
) -> dict[str, object]:
    """Score pytorch-3dunet's predictions in ``run_dir/predictions`` segmented by the bundle's segmenter, its
    settings chosen on pytorch-3dunet's own predictions of the validation volumes (``run_dir/val_predictions``) as
    the bundle chooses its own; in the volume's voxel size (pytorch-3dunet predicts on the volume's grid)."""
    result: dict[str, object] = {}
    segmenter = None
    if case.kind != "regression":
        keys = ("segmentation_mode", "threshold", "min_distance", "min_size")
        post = bundle_facts(ROOT / "bundles" / bundle / "inference.json", {}, keys)
        segmenter = Segmenter(
            post["segmentation_mode"], threshold=post["threshold"], min_distance=post["min_distance"],
            min_size=post["min_size"],
        )  # fmt: skip
        if case.kind in ("boundary", "instances"):
            val_files = sorted((data_dir / "val").glob("*.h5"))
            maps = _prediction_maps(run_dir / "val_predictions", val_files)
            truths = [read_test_volume(path)[1] for path in val_files]
            samplings = [_postprocessing.sampling_of(path, m.ndim - 1) for path, m in zip(val_files, maps)]
            choice = _postprocessing.choose_on_validation(
                case.kind, post["segmentation_mode"], maps, truths, samplings, data_dir / "train"
            )
            segmenter = choice.segmenter()
            post = {**choice.settings, "validation_score": choice.score, "chosen_on": [str(p) for p in val_files]}
        result["post_processing"] = post
    if segmenter is None:
        per_volume = []
        for path, probabilities in zip(test_files, _prediction_maps(run_dir / "predictions", test_files)):
            _, truth = read_test_volume(path)
            # min-max normalised targets have no fixed unit: only the affine-fitted PSNR applies
            per_volume.append(score(case, truth, probabilities[0].reshape(truth.shape), in_clean_units=False))
        result.update(per_volume=per_volume, mean=mean_scores(per_volume))
    else:
        result.update(score_segmented(case, segmenter, test_files, run_dir / "predictions"))
    return result


def score_segmented(case: Case, segmenter: Segmenter, test_files: list[Path], folder: Path) -> dict[str, object]:
    """The probabilities saved in ``folder`` for every test file, segmented by ``segmenter`` in the volume's voxel
    size and scored; figures per volume and their mean."""
    per_volume = []
    for path, probabilities in zip(test_files, _prediction_maps(folder, test_files)):
        _, truth = read_test_volume(path)
        labels = segmenter(probabilities, sampling=_postprocessing.sampling_of(path, probabilities.ndim - 1))
        per_volume.append(score(case, truth, labels.reshape(truth.shape)))
    return {"per_volume": per_volume, "mean": mean_scores(per_volume)}


def reference(
    bundle: str,
    case: Case,
    data_dir: Path,
    run_dir: Path,
    budget: dict[str, object],
    test_files: list[Path],
) -> dict[str, object]:
    """pytorch-3dunet trained and predicting (test and validation volumes) in subprocesses, segmented with the
    bundle's segmenter, its settings chosen on the validation volumes."""
    spec = {
        "bundle": bundle,
        "train_files": _split_files(data_dir, "train"),
        "val_files": _split_files(data_dir, "val"),
        "test_files": [str(p) for p in test_files],
        **budget,
        "checkpoint_dir": str(run_dir / "checkpoints"),
        "output_dir": str(run_dir / "predictions"),
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    spec_file = run_dir / "spec.json"
    spec_file.write_text(json.dumps(spec, indent=1))
    val_spec_file = run_dir / "val_spec.json"
    val_spec = {**spec, "test_files": spec["val_files"], "output_dir": str(run_dir / "val_predictions")}
    val_spec_file.write_text(json.dumps(val_spec, indent=1))
    result: dict[str, object] = {"example": _reference.EXAMPLES[bundle], "spec": spec}
    script = str(ROOT / "benchmarks" / "_reference.py")

    def run_step(action: str, failure: str, spec_path: Path = spec_file, name: str | None = None) -> Run | None:
        """Run ``_reference.py ACTION spec.json``, record it under ``result[name]``; the run, or None on failure."""
        name = name or action
        outcome = run_logged([sys.executable, script, action, str(spec_path)], run_dir / "logs" / f"{name}.log")
        result[name] = vars(outcome)
        if not outcome.ok:
            result["error"] = f"{failure} failed: {outcome.failure()}"
            return None
        return outcome

    progress(f"{bundle}: pytorch-3dunet training ({budget['iterations']} iterations, seed {budget['seed']})")
    trained = run_step("train", "training")
    if trained is None:
        return result
    if not _reference.best_checkpoint(spec["checkpoint_dir"]).is_file():
        result["error"] = "no best_checkpoint.pytorch: no validation ran within the iterations"
        return result
    progress(f"{bundle}: pytorch-3dunet trained in {trained.seconds:.1f} s; predicting")
    if run_step("predict", "prediction") is None:
        return result
    if (
        case.kind in ("boundary", "instances")
        and run_step("predict", "validation prediction", val_spec_file, "predict_val") is None
    ):
        return result

    result.update(score_reference(bundle, case, data_dir, test_files, run_dir))
    return result


# ---------------------------------------------------------------------------------------------------------------
# one bundle, end to end


@dataclass
class Options:
    """The benchmark's command-line options."""

    work_dir: Path
    seed: int
    with_reference: bool
    train_args: list[str] = field(default_factory=list)
    predict_args: list[str] = field(default_factory=list)
    reference_iterations: int | None = None
    case: str = "default"
    plan: bool = False
    float32: bool = False
    train_seeds: tuple[int, ...] = (0,)


def guarded(what: str, stage: Callable[[], dict[str, object]]) -> dict[str, object]:
    """``stage()``, or ``{"error": ...}`` naming ``what`` failed and why: one failure leaves the others' figures."""
    try:
        return stage()
    except Exception as error:  # a benchmark reports, it does not stop
        return {"error": f"{what} failed: {type(error).__name__}: {error}"}


def training_precision(log: Path) -> str:
    """What the training log says the run computed in: ``bfloat16`` or ``float32``, from the CPU run's
    ``bfloat16 autocast: on/off`` line; ``not logged`` without one (a CUDA run logs no such line)."""
    text = log.read_text(errors="replace") if log.is_file() else ""
    match = re.search(r"bfloat16 autocast: (on|off)", text)
    if match:
        return "bfloat16" if match.group(1) == "on" else "float32"
    return "not logged"


def ours(bundle: str, case: Case, data_dir: Path, run_dir: Path, options: Options, iterations: int) -> dict:
    """Train and predict with the bundle's commands, then score; the runs are kept under ``run``."""
    progress(f"{bundle}: training the bundle ({iterations} iterations)")
    trained = train_bundle(bundle, data_dir, run_dir, options.train_args)
    result: dict[str, object] = {"train": vars(trained), "precision": training_precision(Path(trained.log))}
    if not trained.ok:
        return {**result, "error": f"training failed: {trained.failure()}"}
    progress(f"{bundle}: trained in {trained.seconds:.1f} s; predicting the test volumes")
    predicted = predict_bundle(bundle, case, data_dir, run_dir, options.predict_args)
    result["predict"] = vars(predicted)
    if not predicted.ok:
        return {**result, "error": f"prediction failed: {predicted.failure()}"}
    progress(f"{bundle}: predicted in {predicted.seconds:.1f} s; scoring")
    test_files = sorted((data_dir / "test").glob("*.h5"))
    overrides = parse_overrides(options.predict_args)
    return {**result, **guarded("scoring", lambda: score_bundle(bundle, case, test_files, run_dir, overrides))}


def benchmark_bundle(bundle: str, options: Options) -> dict[str, object]:
    """Every stage for one bundle; failures are recorded, not raised."""
    case = CASES[bundle]
    root = options.work_dir / (bundle if options.case == "default" else f"{bundle}_{options.case}")
    data_dir = root / "data"
    result: dict[str, object] = {"bundle": bundle, "seed": options.seed, "dataset_dir": str(data_dir)}
    result["case"] = options.case

    stage = time.perf_counter()
    progress(f"{bundle}: generating the dataset (seed {options.seed})")
    generated = generate_dataset(bundle, data_dir, options.seed)
    if not generated.ok:
        result["error"] = f"dataset generation failed: {generated.failure()}"
        return result
    result["case_description"] = guarded(
        "case",
        lambda: {"text": _cases.prepare_case(options.case, bundle, data_dir, options.seed, root / "logs" / "gen.log")},
    )
    if "error" in result["case_description"]:
        result["error"] = result["case_description"]["error"]
        return result
    test_files = sorted((data_dir / "test").glob("*.h5"))
    progress(f"{bundle}: {len(test_files)} test volumes written in {time.perf_counter() - stage:.1f} s")

    # the dataset folder too, for defaults that depend on it
    overrides = {"dataset_dir": str(data_dir), **parse_overrides(options.train_args)}
    keys = ("epochs", "epoch_length", "val_interval", "patch_size", "batch_size", "num_workers", "seed")
    facts = bundle_facts(ROOT / "bundles" / bundle / "train.json", overrides, keys)
    iterations = int(facts["epochs"]) * int(facts["epoch_length"])
    result["training"] = {"facts": facts, "iterations": iterations, "train_args": options.train_args}
    seeds = list(options.train_seeds)
    result["train_seeds"] = seeds
    per_seed = {}
    for seed in seeds:
        seeded = Options(**{**vars(options), "train_args": options.train_args + ["--seed", str(seed)]})
        per_seed[seed] = ours(bundle, case, data_dir, root / f"ours_seed{seed}", seeded, iterations)
    result["ours"] = over_seeds(per_seed)
    record = model_record(root / f"ours_seed{seeds[0]}" / "models")
    if record and "patch_size" in record:
        # the patch (and the planned batch) the training actually used, as recorded with the weights
        facts["patch_size"] = list(record["patch_size"])
        entries = (record.get("plan") or {}).get("entries", {})
        if "batch_size" in entries:
            facts["batch_size"] = entries["batch_size"]["value"]
        result["training"]["model_record"] = record
    variants: dict[str, tuple[list[str], list[str]]] = {}
    if options.plan:
        variants[FIXED] = (_cases.fixed_train_args(bundle), _cases.FIXED_PREDICT_ARGS)
    if options.float32:
        variants[FLOAT32] = (["--cpu_bf16", "false"], ["--cpu_bf16", "false"])
    for name, (train_args, predict_args) in variants.items():
        variant = Options(**{**vars(options), "train_args": options.train_args + list(train_args),
                             "predict_args": options.predict_args + list(predict_args)})  # fmt: skip
        progress(f"{bundle}: the same bundle with {name}")
        variant.train_args += ["--seed", str(seeds[0])]
        folder = root / name.replace(" ", "_")
        result.setdefault("variants", {})[name] = ours(bundle, case, data_dir, folder, variant, iterations)

    stage = time.perf_counter()
    progress(f"{bundle}: no-learning baseline")
    result["baseline"] = guarded("baseline", lambda: baseline(bundle, case, data_dir, test_files))
    progress(f"{bundle}: baseline done in {time.perf_counter() - stage:.1f} s")

    if not options.with_reference:
        result["reference"] = {"error": "skipped (--no_reference)"}
    elif importlib.util.find_spec("pytorch3dunet") is None:
        message = "pytorch-3dunet not installed (pip install --no-deps pytorch3dunet==1.9.6)"
        progress(f"{bundle}: {message}; skipping the reference")
        result["reference"] = {"error": message}
    elif isinstance(facts["patch_size"], str) or isinstance(facts["batch_size"], str):
        result["reference"] = {"error": "skipped: the planned patch and batch are unknown (training failed)"}
    else:
        reference_iterations = options.reference_iterations or iterations
        budget = {
            "patch_size": list(facts["patch_size"]),
            "batch_size": int(facts["batch_size"]),
            "num_workers": int(facts["num_workers"]),
            "iterations": reference_iterations,
            "validate_every": min(int(facts["val_interval"]) * int(facts["epoch_length"]), reference_iterations),
        }
        per_seed = {
            seed: guarded(
                "pytorch-3dunet",
                lambda seed=seed: reference(
                    bundle, case, data_dir, root / f"reference_seed{seed}", {**budget, "seed": seed}, test_files
                ),
            )
            for seed in seeds
        }
        result["reference"] = over_seeds(per_seed)
        if "error" in result["reference"]:
            progress(f"{bundle}: pytorch-3dunet: {result['reference']['error']}")
    progress(f"{bundle}: done")
    return result


def rescore(earlier: dict[str, object]) -> list[dict[str, object]]:
    """The figures of an earlier run (its ``--json``) scored again from its saved predictions, without training:
    after a change to how segmentation settings are chosen or scored. Ours: the recorded validation trials choose
    again (``nearest_to_plan``) and the saved probabilities are segmented with that choice; the baseline and
    pytorch-3dunet's settings are chosen again on the validation volumes. Training seconds are the earlier ones."""
    return [_rescore_bundle(json.loads(json.dumps(result))) for result in earlier["results"]]


def _rescore_bundle(result: dict[str, object]) -> dict[str, object]:
    if "error" in result:
        return result
    bundle, case = result["bundle"], CASES[result["bundle"]]
    data_dir = Path(result["dataset_dir"])
    test_files = sorted((data_dir / "test").glob("*.h5"))
    root = data_dir.parent
    progress(f"{bundle}: scoring again from {root}")
    ours_seeds = result["ours"]["seeds"]
    for seed, part in ours_seeds.items():
        if "error" not in part:
            run_dir = root / f"ours_seed{seed}"
            part.update(guarded("scoring", partial(_rescore_ours, bundle, case, test_files, run_dir)))
    result["ours"] = over_seeds(ours_seeds)
    result["baseline"] = guarded("baseline", partial(baseline, bundle, case, data_dir, test_files))
    reference_seeds = result.get("reference", {}).get("seeds")
    if reference_seeds:
        for seed, part in reference_seeds.items():
            if "error" not in part:
                run_dir = root / f"reference_seed{seed}"
                part.update(guarded("scoring", partial(score_reference, bundle, case, data_dir, test_files, run_dir)))
        result["reference"] = over_seeds(reference_seeds)
    return result


def _rescore_ours(bundle: str, case: Case, test_files: list[Path], run_dir: Path) -> dict[str, object]:
    """Our saved probabilities segmented with the settings the recorded validation trials choose today."""
    if case.kind not in ("boundary", "instances"):
        return score_bundle(bundle, case, test_files, run_dir, {})
    choice = (model_record(run_dir / "models") or {}).get("segmentation")
    if not choice:
        raise ValueError(f"{run_dir / 'models'} holds no recorded segmentation choice to score again.")
    planned = choice["trials"][0]["settings"]
    kept = nearest_to_plan(choice["trials"], planned, choice["higher_is_better"])
    scored = score_segmented(case, Segmenter(**kept["settings"]), test_files, run_dir / "predictions")
    return {**scored, "settings": kept["settings"], "validation_score": kept["score"]}


# ---------------------------------------------------------------------------------------------------------------
# the table


def _figure(metric: str, value: float) -> str:
    return f"{value:.2f}" if metric.startswith("PSNR") else f"{value:.3f}"


def _cell(part: dict[str, object], metric: str, row: int) -> str:
    if "error" in part:
        return part["error"] if row == 0 else ""
    mean = part.get("mean", {})
    if metric not in mean:
        return "n/a"
    if "sd" in part:
        return f"{_figure(metric, mean[metric])} ± {_figure(metric, part['sd'][metric])} (n={part['n']})"
    return _figure(metric, mean[metric])


def _baseline_cell(part: dict[str, object], metric: str, row: int) -> str:
    if "error" in part:
        return part["error"] if row == 0 else ""
    best = part["best"]
    return f"{_figure(metric, best['mean'][metric])} ({best['method']})"


def _seconds(run: dict[str, object] | None) -> str:
    return f"{run['seconds']:.0f}" if run else ""


def table(results: list[dict[str, object]]) -> str:
    """One markdown table: a row per figure, times and iterations on each bundle's first row."""
    header = (
        "| bundle | metric (direction) | ours | baseline | pytorch-3dunet | our train s | reference train s "
        "| iterations | our training computed in (its log) |"
    )
    names = [name for name in VARIANTS if any(name in result.get("variants", {}) for result in results)]
    if names:
        header = header.replace("| ours |", "| ours | " + " | ".join(names) + " |")
    extra = "---:|" * len(names)
    lines = [header, "|---|---|---:|" + extra + "---:|---:|---:|---:|---:|---|"]
    for result in results:
        bundle = result["bundle"] + (f" ({result['case']})" if result.get("case", "default") != "default" else "")
        if "error" in result:
            lines.append(f"| {bundle} | {result['error']} | | | | | | | |" + " |" * len(names))
            continue
        case = CASES[result["bundle"]]
        training = result["training"]
        reference_part = result["reference"]
        ours_iterations = training["iterations"]
        ref_iterations = reference_part.get("spec", {}).get("iterations", ours_iterations)
        iterations = f"{ours_iterations}" + ("" if ref_iterations == ours_iterations else f" / {ref_iterations}")
        precisions = [f"ours {result['ours'].get('precision', 'not run')}"] + [
            f"{name} {result.get('variants', {}).get(name, {}).get('precision', 'not run')}" for name in names
        ]
        for row, metric in enumerate(case.metrics):
            direction = _scores.METRICS[metric].replace(" is better", "")
            reference_cell = _cell(reference_part, metric, row)
            if metric == _scores.PSNR and "error" not in reference_part:
                reference_cell = "n/a (no unit: min-max targets)"
            cells = [
                bundle if row == 0 else "",
                f"{metric} ({direction})",
                _cell(result["ours"], metric, row),
                *[_cell(result.get("variants", {}).get(name, {"error": "not run"}), metric, row) for name in names],
                _baseline_cell(result["baseline"], metric, row),
                reference_cell,
                _seconds(result["ours"].get("train")) if row == 0 else "",
                _seconds(reference_part.get("train")) if row == 0 else "",
                iterations if row == 0 else "",
                ", ".join(precisions) if row == 0 else "",
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


NOTES = """\
Figures: mean ± sample standard deviation over the training seeds (n = seeds whose run succeeded), on the test
volumes of the dataset seed, which chose nothing; the validation volumes chose the checkpoints, the segmentation
settings and the baseline.
ours: the bundle's training and inference commands with their defaults (patch, batch, pooling and normalisation
planned from the data where set to auto; segmentation settings chosen on the validation volumes when training
ends; prediction resamples to the recorded voxel size); with --plan, "fixed defaults" is the same bundle with its
former fixed patch, batch, normalisation and pooling, and no rescaling; with --float32, "float32" is the same
bundle trained and predicted with --cpu_bf16 false (both with the first seed only); seconds are the training
command's wall clock (interpreter start, dataset checks and the choice of settings included), the mean over seeds,
likewise for pytorch-3dunet's training subprocess.
baseline: no learning, the variant that scored best on the validation volumes: Gaussian-smoothed raw (sigma 1 or
2 voxels) scaled to [0, 1] and segmented by the bundle's segmenter with its settings chosen on the validation
volumes, or (boundary bundles) Otsu with interior components or distance-transform seeds and a watershed of the
smoothed raw, (nuclei, dsb2018_2d) Otsu with connected components or a distance watershed; multiclass: three
multi-Otsu classes renamed to label ids by their best one-to-one overlap with the ground truth; denoising: the
noisy input or its smoothing.
pytorch-3dunet: the recipe of its matching example on the same files, with the same iterations, patch and batch
size and each training seed, its StandardPredictor, then the bundle's segmenter with its settings chosen on its
own predictions of the validation volumes. "affine fit to clean" maps each output by its least-squares affine fit
to the clean volume first."""


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--bundle", nargs="+", choices=BUNDLES, default=list(BUNDLES), help="bundles (default: all)")
    cli.add_argument("--work_dir", type=Path, help="where data, weights and predictions go (default: a temporary "
                     "folder, deleted at the end)")  # fmt: skip
    cli.add_argument("--seed", type=int, default=TEST_SEED,
                     help=f"dataset seed (default {TEST_SEED}, on which nothing was chosen; the bundles' embedded "
                     "data use 0)")  # fmt: skip
    cli.add_argument("--train_seeds", type=int, nargs="+", default=[0, 1, 2],
                     help="training seeds of ours and of pytorch-3dunet (figures: their mean and spread)")  # fmt: skip
    cli.add_argument("--reference", dest="reference", action="store_true", default=True,
                     help="train pytorch-3dunet too (default, when installed)")  # fmt: skip
    cli.add_argument("--no_reference", dest="reference", action="store_false", help="skip pytorch-3dunet")
    cli.add_argument("--train_args", default="", help='extra training options, e.g. "--epochs 1 --cpu_bf16 false"')
    cli.add_argument("--predict_args", default="", help='extra prediction options, e.g. "--roi_size [48,128,128]"')
    cli.add_argument("--reference_iterations", type=int, help="pytorch-3dunet's iterations (default: the bundle's)")
    cli.add_argument("--case", nargs="+", choices=_cases.CASES, default=["default"],
                     help="generated data: as generated, a thin slab (45 voxels along y), z voxels 4x longer, "
                     "test volumes at 2x the object scale, membranes without gaps (boundary bundles)")  # fmt: skip
    cli.add_argument("--plan", action="store_true",
                     help="also train each bundle with its former fixed defaults (no plan, no rescaling)")  # fmt: skip
    cli.add_argument("--float32", action="store_true", help="also train and predict each bundle in float32")
    cli.add_argument("--json", type=Path, help="write every figure, command and time to this JSON file")
    cli.add_argument("--rescore", type=Path, metavar="EARLIER.json",
                     help="score an earlier --json run again from its saved predictions, no training")  # fmt: skip
    cli.add_argument("--self_check", action="store_true", help="check the scorers against hand-computed values")
    args = cli.parse_args()

    if args.self_check:
        lines = _scores.self_check()
        print("\n".join(lines))
        sys.exit(1 if any(line.startswith("FAIL") for line in lines) else 0)

    if args.rescore is not None:
        results = rescore(json.loads(args.rescore.read_text()))
        if args.json:
            args.json.write_text(json.dumps({"options": vars(args), "results": results}, indent=1, default=str))
        print(table(results))
        return

    # a misspelt pair stops here, before any work
    parse_overrides(shlex.split(args.train_args))
    parse_overrides(shlex.split(args.predict_args))
    with tempfile.TemporaryDirectory(prefix="quality_") as scratch:
        options = Options(
            work_dir=(args.work_dir or Path(scratch)).resolve(),
            seed=args.seed,
            with_reference=args.reference,
            train_args=shlex.split(args.train_args),
            predict_args=shlex.split(args.predict_args),
            reference_iterations=args.reference_iterations,
            plan=args.plan,
            float32=args.float32,
            train_seeds=tuple(args.train_seeds),
        )
        runs = [(bundle, case) for bundle in args.bundle for case in args.case]
        for bundle, case in runs:
            folder = options.work_dir / (bundle if case == "default" else f"{bundle}_{case}")
            if folder.exists() and any(folder.iterdir()):
                cli.exit(2, f"error: {folder} is not empty; choose another --work_dir (nothing is overwritten).\n")
        progress(f"work dir {options.work_dir}; bundles {', '.join(args.bundle)}")
        results = [benchmark_bundle(bundle, Options(**{**vars(options), "case": case})) for bundle, case in runs]
    progress(f"all done in {time.perf_counter() - _START:.0f} s")
    # the figures first: a long run's results are kept whatever happens to the printing
    if args.json:
        args.json.write_text(json.dumps({"options": vars(args), "results": results}, indent=1, default=str))
    print(table(results))
    print()
    print(NOTES)


if __name__ == "__main__":
    main()
