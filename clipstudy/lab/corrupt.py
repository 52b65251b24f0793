"""Corruptions for lab-3dcc: 3D ones computed from the TRUE depth (after 3DCC, Kar et al. 2022), 2D ones for contrast.

3D (ours, depth-aware, batched torch): near_focus, far_focus, fog_3d, z_motion_blur, flash.
2D: gaussian_noise, contrast, defocus_blur from the `imagecorruptions` package (ImageNet-C code), which
works at 64 px for these three (its glass_blur, gaussian_blur and fog fail with current numpy/skimage).
Severity 0 is the clean image; 1..5 increase monotonically. A 3D corruption's strength is a continuous
`level` (severity s is level s by default; `PARAMS_3D` holds each level's parameter, interpolated between
levels and extended linearly past 5), so `clipstudy.lab.severity` can calibrate the 3D levels to the drops
the 2D (ImageNet-C) severities cause.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import UnknownNameError
from .render import CAM_Z, FAR

CORRUPTIONS_3D = ("near_focus", "far_focus", "fog_3d", "z_motion_blur", "flash")
CORRUPTIONS_2D = ("gaussian_noise", "contrast", "defocus_blur")
CORRUPTIONS = CORRUPTIONS_3D + CORRUPTIONS_2D
SEVERITIES = (1, 2, 3, 4, 5)
MAX_LEVEL = 25.0
# each 3D corruption's parameter at levels 1..5 (level 0 = the clean image): blur sigma in pixels at 64 px
# (focus), extinction (fog), zoom per step (motion), flash gain
PARAMS_3D: dict[str, tuple[float, ...]] = {
    "near_focus": (0.8, 1.3, 1.9, 2.6, 3.4), "far_focus": (0.8, 1.3, 1.9, 2.6, 3.4),
    "fog_3d": (0.3, 0.6, 1.0, 1.5, 2.2), "z_motion_blur": (0.06, 0.1, 0.15, 0.21, 0.28),
    "flash": (0.35, 0.6, 0.9, 1.25, 1.7),
}


def parameter(name: str, level: float) -> float:
    """The corruption parameter at a continuous `level` in [0, MAX_LEVEL]: linear between the tabled levels
    (0 at level 0), and past level 5 by the slope from 4 to 5, so it keeps growing monotonically."""
    if name not in PARAMS_3D:
        raise UnknownNameError("3D corruption", name, list(PARAMS_3D))
    if not 0 <= level <= MAX_LEVEL:
        raise ValueError(f"level must be in [0, {MAX_LEVEL}], got {level}")
    table = (0.0,) + PARAMS_3D[name]
    if level <= 5:
        return float(np.interp(level, np.arange(6), table))
    return float(table[5] + (level - 5) * (table[5] - table[4]))


def normalised_depth(depth: torch.Tensor) -> torch.Tensor:
    """Depth [B,H,W] (inf = background) -> [0, 1], 0 nearest the camera, background = 1."""
    d = torch.where(torch.isinf(depth), torch.full_like(depth, FAR), depth)
    near = CAM_Z - 2.0
    return ((d - near) / (FAR - near)).clamp(0, 1)


def _gauss_stack(img: torch.Tensor, sigmas) -> torch.Tensor:
    """[B,3,H,W] float -> [L,B,3,H,W] Gaussian blurs at each sigma (sigma 0 = identity)."""
    out = []
    for s in sigmas:
        if s <= 0:
            out.append(img)
            continue
        r = max(1, int(3 * s))
        x = torch.arange(-r, r + 1, dtype=torch.float32)
        k = torch.exp(-x ** 2 / (2 * s * s))
        k = k / k.sum()
        pad = F.pad(img, (r, r, r, r), mode="replicate")
        c = img.shape[1]
        h = F.conv2d(pad, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
        out.append(F.conv2d(h, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c))
    return torch.stack(out)


def _depth_blur(img, amount, max_sigma):
    """Per-pixel blur: amount [B,H,W] in [0,1] selects a sigma in [0, max_sigma] (linear blend of a stack)."""
    levels = 6
    sig = np.linspace(0, max_sigma, levels)
    stack = _gauss_stack(img, sig)  # [L,B,3,H,W]
    pos = amount.clamp(0, 1) * (levels - 1)
    lo = pos.floor().long().clamp(max=levels - 2)
    w = (pos - lo)[:, None]
    g = lambda i: torch.gather(stack.permute(1, 2, 3, 4, 0), 4, i[:, None, :, :, None].expand(-1, 3, -1, -1, 1)).squeeze(4)
    return g(lo) * (1 - w) + g(lo + 1) * w


def _zoom(img, scale):
    B = img.shape[0]
    theta = torch.zeros(B, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1 / scale
    grid = F.affine_grid(theta, img.shape, align_corners=False)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=False)


def corrupt_3d(images: torch.Tensor, depth: torch.Tensor, name: str, severity: int,
               level: float | None = None) -> torch.Tensor:
    """Depth-aware corruption of uint8 images [B,3,H,W] given true depth [B,H,W]; returns uint8.

    `level` (default: the severity) sets the strength on the continuous scale of `parameter`."""
    if name not in CORRUPTIONS_3D:
        raise UnknownNameError("3D corruption", name, list(CORRUPTIONS_3D))
    if severity not in (0,) + SEVERITIES:
        raise ValueError(f"severity must be 0..5, got {severity}")
    level = float(severity if level is None else level)
    if severity == 0 or level == 0:
        return images.clone()
    p = parameter(name, level)
    x = images.float() / 255
    d = normalised_depth(depth)
    if name in ("near_focus", "far_focus"):
        # the focal plane at the nearest (or farthest) object depth; blur grows with distance from it
        big = torch.where(depth.isinf(), torch.full_like(d, -1.0), d)
        small = torch.where(depth.isinf(), torch.full_like(d, 2.0), d)
        if name == "near_focus":
            focus = small.flatten(1).min(1).values.clamp(max=1)
        else:
            focus = big.flatten(1).max(1).values.clamp(min=0)
        amount = (d - focus[:, None, None]).abs() / 0.5
        out = _depth_blur(x, amount, max_sigma=p)
    elif name == "fog_3d":
        beta = p
        trans = torch.exp(-beta * d)[:, None]
        out = x * trans + 0.8 * (1 - trans)
    elif name == "z_motion_blur":
        # camera moving forward: zoom blur whose strength grows as depth shrinks
        strength = p
        steps = [_zoom(x, 1 + strength * k / 7) for k in range(8)]
        blurred = torch.stack(steps).mean(0)
        w = (1 - d)[:, None].clamp(0.25, 1)
        out = x * (1 - w) + blurred * w
    else:  # flash: light at the camera, inverse-square falloff with depth, saturating near surfaces
        gain = p
        dist = torch.where(depth.isinf(), torch.full_like(depth, FAR), depth)
        fall = ((CAM_Z - 1.0) / dist) ** 2
        fall = fall[:, None]
        out = x * (1 + gain * fall - 0.3 * gain * (1 - fall)) + 0.15 * gain * fall  # linear in gain: monotonic
    return (out.clamp(0, 1) * 255 + 0.5).to(torch.uint8)


def corrupt_2d(images: torch.Tensor, name: str, severity: int) -> torch.Tensor:
    """ImageNet-C corruption from `imagecorruptions` (per image, deterministic via a fixed numpy seed)."""
    if name not in CORRUPTIONS_2D:
        raise UnknownNameError("2D corruption", name, list(CORRUPTIONS_2D))
    if severity == 0:
        return images.clone()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from imagecorruptions import corrupt

    state = np.random.get_state()
    np.random.seed(severity * 1000 + CORRUPTIONS_2D.index(name))  # imagecorruptions draws from the global RNG
    try:
        arr = images.permute(0, 2, 3, 1).numpy()
        out = np.stack([np.asarray(corrupt(a, corruption_name=name, severity=severity)) for a in arr])
    finally:
        np.random.set_state(state)
    return torch.from_numpy(np.ascontiguousarray(out.astype(np.uint8))).permute(0, 3, 1, 2).contiguous()


def corrupt(images: torch.Tensor, depth: torch.Tensor | None, name: str, severity: int,
            level: float | None = None) -> torch.Tensor:
    """Any lab corruption by name (3D ones need depth; `level` applies to them only)."""
    if name in CORRUPTIONS_3D:
        if depth is None:
            raise ValueError(f"{name} is a 3D corruption and needs the true depth map")
        return corrupt_3d(images, depth, name, severity, level)
    if name in CORRUPTIONS_2D:
        return corrupt_2d(images, name, severity)
    raise UnknownNameError("corruption", name, list(CORRUPTIONS))
