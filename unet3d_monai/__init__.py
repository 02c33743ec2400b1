"""3D and 2D U-Nets for volumetric segmentation and regression on HDF5 volumes, built on MONAI.

The package holds components only (networks, losses, metrics, HDF5 data, inference); the MONAI bundles
in ``bundles/`` wire them into training and prediction pipelines.
"""

__version__ = "0.1.0"
