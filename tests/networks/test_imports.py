"""``import unet3d_monai.networks`` loads the networks alone: no other subpackage of ours, and no third-party module
beyond what MONAI's own import brings (MONAI 1.6 itself imports ignite, tensorboard, h5py and nibabel when
``monai`` is imported; the networks add nothing to that)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_REPORT = "import sys, json; {statement}; print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
_OURS = (
    "import sys, json, unet3d_monai.networks; "
    "print(json.dumps(sorted(m for m in sys.modules if m.startswith('unet3d_monai'))))"
)


def _top_level_modules(statement: str) -> set[str]:
    code = _REPORT.format(statement=statement)
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(json.loads(result.stdout))


def test_networks_import_no_other_subpackage():
    result = subprocess.run([sys.executable, "-c", _OURS], cwd=ROOT, capture_output=True, text=True, check=True)
    loaded = json.loads(result.stdout)
    assert "unet3d_monai.networks.unet" in loaded
    assert not [m for m in loaded if m != "unet3d_monai" and not m.startswith("unet3d_monai.networks")]


def test_networks_add_no_third_party_import_to_monai():
    ours = _top_level_modules("import unet3d_monai.networks")
    monai_alone = _top_level_modules("import monai.networks.layers")
    assert ours - monai_alone == {"unet3d_monai"}


def test_every_subpackage_is_imported_on_first_use():
    code = (
        "import sys, json, unet3d_monai; "
        "before = sorted(m for m in sys.modules if m.startswith('unet3d_monai.')); "
        "unet3d_monai.runtime.configure_run; unet3d_monai.planning.plan_training; "
        "after = sorted(m for m in sys.modules if m.count('.') == 1 and m.startswith('unet3d_monai.')); "
        "print(json.dumps([before, after, [n for n in dir(unet3d_monai) if not n.startswith('_')]]))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    before, after, listed = json.loads(result.stdout)
    assert before == []
    # the bundles' lines reach runtime and planning through the package attribute; they bring their own imports
    assert {"unet3d_monai.runtime", "unet3d_monai.planning"} <= set(after)
    subpackages = ["bundle", "compat", "data", "export", "handlers", "inference", "losses", "metrics", "networks"]
    assert set(listed) >= {*subpackages, "planning", "runtime"}
