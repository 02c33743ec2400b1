"""``network.arguments`` rebuilds the same network (the architecture a bioimage.io package records)."""

import json

import pytest
import torch

from unet3d_monai.networks import ResidualUNet2D, ResidualUNet3D, ResidualUNetSE3D, UNet2D, UNet3D

CASES = [
    (UNet3D, {"f_maps": 4, "num_groups": 2, "num_levels": 3, "final_sigmoid": False, "upsample": "trilinear"}),
    (ResidualUNet3D, {"f_maps": [4, 8, 16], "num_groups": 2, "pool_kernel_size": (1, 2, 2), "layer_order": "cbr"}),
    (ResidualUNetSE3D, {"f_maps": 4, "num_levels": 3, "num_groups": 4, "is_segmentation": False}),
    (
        UNet2D,
        {
            "f_maps": [4, 8, 16],
            "layer_order": "bcdr",
            "dropout_prob": (0.1, 0.2),
            "conv_kernel_size": 5,
            "conv_padding": 2,
        },
    ),
    (ResidualUNet2D, {"f_maps": 4, "num_levels": 3, "upsample": "nearest"}),
]


@pytest.mark.parametrize("network_class, options", CASES, ids=[c.__name__ for c, _ in CASES])
def test_arguments_rebuild_the_same_network(network_class, options):
    torch.manual_seed(0)
    network = network_class(2, 3, **options).eval()
    arguments = json.loads(json.dumps(network.arguments))  # plain JSON values
    assert arguments["in_channels"] == 2 and arguments["out_channels"] == 3
    assert arguments["f_maps"] == network.f_maps and isinstance(arguments["f_maps"], list)
    rebuilt = network_class(**arguments).eval()
    rebuilt.load_state_dict(network.state_dict(), strict=True)
    assert str(rebuilt) == str(network)
    assert type(rebuilt.final_activation) is type(network.final_activation)
    x = torch.rand(1, 2, *([12, 16, 16] if network.spatial_dims == 3 else [16, 20]))
    with torch.no_grad():
        assert torch.equal(rebuilt(x), network(x))
