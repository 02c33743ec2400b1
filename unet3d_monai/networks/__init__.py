"""The U-Net family of pytorch-3dunet as MONAI networks: forward returns logits, ``final_activation`` is separate.

Parameter names, defaults and the module tree follow pytorch-3dunet, so its checkpoints load with
``strict=True`` (see :mod:`unet3d_monai.compat`).
"""

from unet3d_monai.networks.unet import ResidualUNet2D, ResidualUNet3D, ResidualUNetSE3D, UNet2D, UNet3D

__all__ = ["UNet3D", "ResidualUNet3D", "ResidualUNetSE3D", "UNet2D", "ResidualUNet2D"]
