"""Synthetic microscopy volumes: cell membranes, nuclei and cells, with a simple imaging model.

Every function draws its randomness from the ``numpy.random.Generator`` it is given, so a volume
is a deterministic function of the generator's seed. Work is vectorised over voxels; the only
Python loops run over objects (nuclei, cells).

The imaging model (:func:`acquire`) turns a noise-free emitter density into detector values:
blur by an anisotropic Gaussian point spread function, multiplication by an illumination field,
conversion to expected photon counts, shot noise (Poisson), detector gain, offset and read noise
(Gaussian).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

__all__ = ["acquire", "cell_membranes", "nuclei", "cells_with_nuclei", "smooth_field", "illumination"]


def smooth_field(rng: np.random.Generator, shape: Sequence[int], scale: Sequence[float] | float) -> np.ndarray:
    """A smooth random field of zero mean and unit standard deviation.

    Args:
        rng: random generator.
        shape: output shape.
        scale: correlation length in voxels, one value or one per axis.

    Returns:
        float64 array of ``shape``: white noise on a coarse grid (one node per ``scale`` voxels),
        interpolated with cubic splines.
    """
    shape = tuple(int(s) for s in shape)
    scales = np.broadcast_to(np.asarray(scale, dtype=float), (len(shape),))
    coarse_shape = tuple(int(np.ceil(s / max(c, 1e-6))) + 4 for s, c in zip(shape, scales))
    coarse = rng.standard_normal(coarse_shape)
    # map output voxel i to coarse coordinate 1.5 + i / scale, so the border nodes only support the spline
    axes = [1.5 + np.arange(s) / c for s, c in zip(shape, scales)]
    coeffs = ndimage.spline_filter(coarse, order=3, mode="mirror")
    field = _separable_spline_sample(coeffs, axes)
    std = field.std()
    return (field - field.mean()) / (std if std > 0 else 1.0)


def _separable_spline_sample(coeffs: np.ndarray, axes: Sequence[np.ndarray]) -> np.ndarray:
    """Evaluate a cubic B-spline with coefficients ``coeffs`` on the grid ``axes[0] x axes[1] x ...``."""
    out = coeffs
    for axis, positions in enumerate(axes):
        base = np.floor(positions).astype(int) - 1
        frac = positions - np.floor(positions)
        # cubic B-spline weights of the 4 nodes base, base+1, base+2, base+3
        weights = np.stack(
            [
                (1 - frac) ** 3 / 6,
                (3 * frac**3 - 6 * frac**2 + 4) / 6,
                (-3 * frac**3 + 3 * frac**2 + 3 * frac + 1) / 6,
                frac**3 / 6,
            ]
        )
        size = out.shape[axis]
        moved = np.moveaxis(out, axis, 0)
        sampled = sum(
            weights[k].reshape(-1, *([1] * (moved.ndim - 1))) * moved[np.clip(base + k, 0, size - 1)] for k in range(4)
        )
        out = np.moveaxis(sampled, 0, axis)
    return out


def illumination(
    rng: np.random.Generator, shape: Sequence[int], scale: float, contrast: float, depth_decay: float = 0.0
) -> np.ndarray:
    """A smooth multiplicative illumination field with values around 1.

    Args:
        rng: random generator.
        shape: output shape, first axis z.
        scale: correlation length in voxels along y and x (z uses half of it, at least 2).
        contrast: relative amplitude of the variations (0.3 gives roughly 0.7 to 1.3).
        depth_decay: signal loss from the first to the last z plane, as a fraction (0.4: the last plane
            receives 60 % of the light of the first one); ignored for 2D shapes.
    """
    scales = [scale] * len(shape)
    if len(shape) == 3:
        scales[0] = max(scale / 2, 2.0)
    field = 1.0 + contrast * np.tanh(smooth_field(rng, shape, scales) / 1.5)
    if len(shape) == 3 and shape[0] > 1 and depth_decay > 0:
        depth = np.linspace(0.0, 1.0, shape[0]).reshape(-1, 1, 1)
        field = field * (1.0 - depth_decay * depth)
    return field


def _physical_grid(shape: Sequence[int], spacing: Sequence[float]) -> list[np.ndarray]:
    """Physical coordinates of the voxels, one broadcastable array per axis."""
    return [
        (np.arange(n) * s).reshape([-1 if i == axis else 1 for i in range(len(shape))])
        for axis, (n, s) in enumerate(zip(shape, spacing))
    ]


def _jittered_seeds(
    rng: np.random.Generator, extent: np.ndarray, cell_size: float, jitter: float, margin: float
) -> np.ndarray:
    """Cell seeds on a jittered cubic lattice covering ``[-margin, extent + margin]`` along every axis."""
    counts = np.maximum(np.ceil((extent + 2 * margin) / cell_size).astype(int), 1)
    lattice = np.stack(np.meshgrid(*[np.arange(c) for c in counts], indexing="ij"), axis=-1).reshape(-1, len(counts))
    lattice = lattice.astype(float)
    # shift every other row of the lattice by half a cell, so cells do not line up in columns
    lattice[:, -1] += 0.5 * (lattice[:, -2] % 2)
    seeds = (lattice + 0.5) * cell_size - margin
    seeds += rng.uniform(-jitter, jitter, size=seeds.shape) * cell_size
    return seeds


def cell_membranes(
    rng: np.random.Generator,
    shape: Sequence[int],
    spacing: Sequence[float],
    cell_size: float,
    membrane_width: float = 0.45,
    warp: float = 0.18,
    gap_fraction: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A tissue of cells filling the volume: instance labels and a noise-free membrane stain.

    Cells are the Voronoi regions of jittered lattice seeds in a smoothly warped physical space,
    so walls are gently curved; every voxel belongs to a cell. The membrane stain is a thin
    Gaussian sheet on every wall (distance to the nearest bisector of the two closest seeds), with
    a brightness that varies from cell to cell and patchily along the membrane.

    Args:
        rng: random generator.
        shape: volume shape ``(Z, Y, X)``.
        spacing: voxel size per axis in the units of ``cell_size`` (e.g. ``(2.0, 1.0, 1.0)``).
        cell_size: mean distance between neighbouring cell centres, physical units.
        membrane_width: standard deviation of the membrane profile, physical units.
        warp: amplitude of the space warping, as a fraction of ``cell_size``.
        gap_fraction: share of the volume where the membrane stain fades to 5 % (patches of weak or missing
            membrane, as in real stainings); the walls are still there in the labels.

    Returns:
        ``(labels, membranes, cytoplasm)``: uint32 instance ids ``1..N`` of ``shape``, and two float64
        emitter densities of ``shape`` (membrane stain in ``[0, ~1.5]``, faint textured cell
        interiors).
    """
    shape = tuple(int(s) for s in shape)
    spacing_arr = np.asarray(spacing, dtype=float)
    extent = np.asarray(shape) * spacing_arr
    seeds = _jittered_seeds(rng, extent, cell_size, jitter=0.3, margin=cell_size)

    grid = _physical_grid(shape, spacing_arr)
    warp_scale = [0.8 * cell_size / s for s in spacing_arr]
    coords = np.empty((*shape, len(shape)), dtype=float)
    for axis in range(len(shape)):
        coords[..., axis] = grid[axis] + warp * cell_size * smooth_field(rng, shape, warp_scale)
    points = coords.reshape(-1, len(shape))

    distances, nearest = cKDTree(seeds).query(points, k=3)
    # distance of each point to the bisector plane between its closest seed and the 2nd / 3rd closest
    closest = seeds[nearest[:, 0]]
    gaps = np.stack([np.linalg.norm(seeds[nearest[:, j]] - closest, axis=1) for j in (1, 2)], axis=1)
    walls = (distances[:, 1:] ** 2 - distances[:, :1] ** 2) / (2 * np.maximum(gaps, 1e-9))
    which = np.argmin(walls, axis=1)
    wall = walls[np.arange(len(walls)), which]
    neighbour = nearest[np.arange(len(walls)), which + 1]

    cell_brightness = rng.lognormal(0.0, 0.3, size=len(seeds))
    pair_brightness = 0.5 * (cell_brightness[nearest[:, 0]] + cell_brightness[neighbour])
    membranes = np.exp(-0.5 * (wall / membrane_width) ** 2) * pair_brightness
    membranes = membranes.reshape(shape)
    patchy_scale = [4.0 / s for s in spacing_arr]
    membranes *= np.clip(1.0 + 0.35 * smooth_field(rng, shape, patchy_scale), 0.2, None)
    if gap_fraction > 0:
        gap_field = smooth_field(rng, shape, [0.4 * cell_size / s for s in spacing_arr])
        cut = np.quantile(gap_field, gap_fraction)
        membranes *= 0.05 + 0.95 * np.clip((gap_field - cut) / 0.4, 0.0, 1.0)

    seed_ids, labels = np.unique(nearest[:, 0], return_inverse=True)
    labels = (labels + 1).reshape(shape).astype(np.uint32)
    interior_level = rng.uniform(0.03, 0.12, size=len(seed_ids) + 1)
    texture_scale = [1.5 / s for s in spacing_arr]
    cytoplasm = interior_level[labels] * np.clip(1.0 + 0.5 * smooth_field(rng, shape, texture_scale), 0.0, None)
    return labels, membranes, cytoplasm


def _random_rotation(rng: np.random.Generator, ndim: int, tilt: float) -> np.ndarray:
    """A random rotation matrix; in 3D, the first axis (z) is tilted by at most ``tilt`` radians."""
    if ndim == 2:
        angle = rng.uniform(0, 2 * np.pi)
        return np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    yaw = rng.uniform(0, 2 * np.pi)
    pitch = rng.uniform(-tilt, tilt)
    in_plane = np.array([[1, 0, 0], [0, np.cos(yaw), -np.sin(yaw)], [0, np.sin(yaw), np.cos(yaw)]])
    tilted = np.array([[np.cos(pitch), -np.sin(pitch), 0], [np.sin(pitch), np.cos(pitch), 0], [0, 0, 1]])
    return tilted @ in_plane


def _place_ellipsoids(
    rng: np.random.Generator,
    shape: Sequence[int],
    spacing: np.ndarray,
    radius_range: tuple[float, float],
    elongation: float,
    density: float,
    min_gap: float,
    max_count: int,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Centres and semi-axes (physical units) of ellipsoids that do not overlap (up to ``min_gap``).

    Candidates are drawn uniformly and kept when their bounding spheres stay apart; ``density`` sets how
    many candidates are tried per unit volume.
    """
    extent = np.asarray(shape) * spacing
    mean_radius = float(np.mean(radius_range))
    volume = float(np.prod(extent))
    candidates = int(min(max_count * 6, max(8, density * volume / mean_radius ** len(shape))))
    centres = rng.uniform(0, 1, size=(candidates, len(shape))) * extent
    semi_axes = rng.uniform(*radius_range, size=(candidates, 1)) * np.exp(
        rng.uniform(-elongation, elongation, size=(candidates, len(shape)))
    )
    kept = np.zeros((0, len(shape)))
    kept_bounds = np.zeros(0)
    placed: list[tuple[np.ndarray, np.ndarray]] = []
    for centre, axes in zip(centres, semi_axes):
        if len(placed) >= max_count:
            break
        bound = axes.max()
        if np.any(np.linalg.norm(kept - centre, axis=1) < kept_bounds + bound + min_gap):
            continue
        placed.append((centre, axes))
        kept = np.vstack([kept, centre])
        kept_bounds = np.append(kept_bounds, bound)
    return placed


def _render_ellipsoids(
    rng: np.random.Generator,
    shape: Sequence[int],
    spacing: np.ndarray,
    ellipsoids: list[tuple[np.ndarray, np.ndarray]],
    roughness: float,
    tilt: float,
    bump_size: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Label ``ellipsoids`` (ids 1..N in order) and return ``(labels, radial)``.

    ``radial`` holds, inside each object, the normalised radius (0 at the centre, 1 on the surface),
    which lets callers shade objects (brighter rims, dimmer centres). Object surfaces are made
    irregular by a smooth field of relative amplitude ``roughness`` and correlation length
    ``bump_size`` (physical units).
    """
    shape = tuple(int(s) for s in shape)
    labels = np.zeros(shape, dtype=np.uint32)
    radial = np.ones(shape, dtype=float)
    bumps = smooth_field(rng, shape, [bump_size / s for s in spacing])
    for index, (centre, axes) in enumerate(ellipsoids, start=1):
        rotation = _random_rotation(rng, len(shape), tilt)
        reach = axes.max() * (1 + 2 * roughness)
        low = np.maximum(np.floor((centre - reach) / spacing).astype(int), 0)
        high = np.minimum(np.ceil((centre + reach) / spacing).astype(int) + 1, shape)
        if np.any(high <= low):
            continue
        box = tuple(slice(lo, hi) for lo, hi in zip(low, high))
        local = [
            (np.arange(lo, hi) * s - c).reshape([-1 if i == axis else 1 for i in range(len(shape))])
            for axis, (lo, hi, s, c) in enumerate(zip(low, high, spacing, centre))
        ]
        # coordinates in the ellipsoid's frame, scaled by its semi-axes
        rotated = [sum(rotation[k, j] * local[j] for j in range(len(shape))) / axes[k] for k in range(len(shape))]
        radius = np.sqrt(sum(r**2 for r in rotated)) * (1 + roughness * bumps[box])
        free = (radius <= 1.0) & (labels[box] == 0)
        labels[box][free] = index
        radial[box][free] = radius[free]
    return labels, radial


def nuclei(
    rng: np.random.Generator,
    shape: Sequence[int],
    spacing: Sequence[float],
    radius_range: tuple[float, float],
    density: float = 0.5,
    max_count: int = 400,
    min_gap: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Ellipsoidal nuclei with chromatin texture: instance labels and a noise-free stain.

    Args:
        rng: random generator.
        shape: volume shape, ``(Z, Y, X)`` or ``(Y, X)``.
        spacing: voxel size per axis, physical units.
        radius_range: range of the mean semi-axis, physical units.
        density: packing, about the fraction of the volume the candidates would fill.
        max_count: at most this many nuclei.
        min_gap: least distance between the bounding spheres of two nuclei, physical units; a negative
            value lets nuclei touch (the first placed keeps the shared voxels).

    Returns:
        ``(labels, stain)``: uint32 instance ids (0 background, 1..N) and a float64 emitter density.
    """
    spacing_arr = np.asarray(spacing, dtype=float)
    placed = _place_ellipsoids(
        rng, shape, spacing_arr, radius_range, elongation=0.25, density=density, min_gap=min_gap, max_count=max_count
    )
    bump_size = 0.6 * float(np.mean(radius_range))
    labels, radial = _render_ellipsoids(rng, shape, spacing_arr, placed, roughness=0.1, tilt=0.3, bump_size=bump_size)
    brightness = np.concatenate([[0.0], rng.lognormal(0.0, 0.35, size=len(placed))])
    chromatin = np.clip(1.0 + 0.45 * smooth_field(rng, shape, [1.2 / s for s in spacing_arr]), 0.05, None)
    nucleoli = np.clip(smooth_field(rng, shape, [2.5 / s for s in spacing_arr]) - 1.3, 0.0, None)
    shading = 0.75 + 0.35 * radial**2 - 0.5 * nucleoli
    stain = np.where(labels > 0, brightness[labels] * chromatin * np.clip(shading, 0.1, None), 0.0)
    return labels, stain


def cells_with_nuclei(
    rng: np.random.Generator,
    shape: Sequence[int],
    spacing: Sequence[float],
    radius_range: tuple[float, float],
    max_count: int = 200,
) -> tuple[np.ndarray, np.ndarray]:
    """Cells (class 1) each holding a nucleus (class 2) on a dark background (class 0).

    Args:
        rng: random generator.
        shape: volume shape ``(Z, Y, X)``.
        spacing: voxel size per axis, physical units.
        radius_range: range of the mean cell semi-axis, physical units; nuclei are 50-65 % of the
            shortest one.
        max_count: at most this many cells.

    Returns:
        ``(classes, stain)``: uint8 class ids and a float64 emitter density (dim finely textured
        cytoplasm, bright coarse-textured nuclei).
    """
    spacing_arr = np.asarray(spacing, dtype=float)
    cells = _place_ellipsoids(
        rng, shape, spacing_arr, radius_range, elongation=0.3, density=1.5, min_gap=-5.0, max_count=max_count
    )
    bump_size = 0.6 * float(np.mean(radius_range))
    cell_labels, _ = _render_ellipsoids(rng, shape, spacing_arr, cells, roughness=0.1, tilt=0.4, bump_size=bump_size)
    inner = []
    for centre, axes in cells:
        scale = rng.uniform(0.5, 0.65)
        shift = rng.uniform(-0.25, 0.25, size=len(shape)) * axes
        inner.append((centre + shift, axes.min() * scale * np.exp(rng.uniform(-0.15, 0.15, size=len(shape)))))
    nucleus_labels, _ = _render_ellipsoids(
        rng, shape, spacing_arr, inner, roughness=0.06, tilt=0.4, bump_size=0.5 * bump_size
    )
    classes = np.zeros(shape, dtype=np.uint8)
    classes[cell_labels > 0] = 1
    classes[(nucleus_labels > 0) & (cell_labels > 0)] = 2
    cell_level = np.concatenate([[0.0], rng.uniform(0.3, 0.5, size=len(cells))])
    fine = np.clip(1.0 + 0.4 * smooth_field(rng, shape, [1.0 / s for s in spacing_arr]), 0.0, None)
    coarse = np.clip(1.0 + 0.5 * smooth_field(rng, shape, [2.0 / s for s in spacing_arr]), 0.1, None)
    stain = np.where(classes == 1, cell_level[cell_labels] * fine, 0.0)
    stain = np.where(classes == 2, (0.6 + cell_level[cell_labels]) * coarse, stain)
    return classes, stain


def acquire(
    rng: np.random.Generator,
    density: np.ndarray,
    psf_sigma: Sequence[float],
    illumination_field: np.ndarray | float,
    peak_photons: float,
    background_photons: float,
    gain: float,
    offset: float,
    read_noise: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Image an emitter density: PSF blur, illumination, shot noise and detector noise.

    Args:
        rng: random generator.
        density: noise-free emitter density, about 1 at the brightest structures.
        psf_sigma: standard deviation of the Gaussian PSF per axis, voxels.
        illumination_field: multiplicative field (or a constant).
        peak_photons: expected photons per voxel for a density of 1 under unit illumination.
        background_photons: expected photons per voxel from out-of-focus light and autofluorescence.
        gain: detector units per photon.
        offset: detector baseline.
        read_noise: standard deviation of the Gaussian read noise, detector units.

    Returns:
        ``(noisy, clean)``: float32 detector values and their expectation (no shot or read noise).
    """
    blurred = ndimage.gaussian_filter(density, sigma=list(psf_sigma), mode="reflect", truncate=3.0)
    photons = np.clip(blurred, 0.0, None) * illumination_field * peak_photons + background_photons
    counts = rng.poisson(photons)
    noisy = gain * counts + offset + rng.normal(0.0, read_noise, size=photons.shape)
    clean = gain * photons + offset
    return noisy.astype(np.float32), clean.astype(np.float32)
