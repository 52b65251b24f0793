"""Batched analytic ray casting of lab scenes in torch (CPU).

Shapes are unions of canonical primitives (sphere, box, cylinder, cone, torus, convex polytope), each
under an affine map from object space; ray parameters t are invariant under affine maps, so every
ray is intersected in the primitive's own frame in closed form (the torus alone is sphere-traced).
Textures are functions of the 3D object-space hit point, so they follow the surface and the
object-space coordinates give exact cross-view correspondence.

The camera is fixed, looking down -z from CAM_Z at a frame of half-width 1; a fixed elevation tilts
every object toward the camera. Pose (yaw, pitch, roll) rotates the object.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..errors import UnknownNameError
from .world import COLORS, SHAPES, validate_frame

CAM_Z = 3.5  # camera distance from the object plane z=0
CAM_ELEVATION = 20.0  # degrees; fixed tilt so that tops (table, mushroom) are seen
OCC_Z = 1.6  # the occluding bar lies in front of every object
FAR = CAM_Z + 3.0  # depth given to background pixels in `Render.depth_filled`
CAMERAS = ("ortho", "perspective")
_INF = float("inf")


# ---------------------------------------------------------------- geometry
def _rot(rx: float = 0.0, ry: float = 0.0, rz: float = 0.0) -> np.ndarray:
    """R = Ry(ry) @ Rx(rx) @ Rz(rz), degrees."""
    a, b, c = np.radians([rx, ry, rz])
    Rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    Ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    Rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return Ry @ Rx @ Rz


def _pyramid_planes() -> np.ndarray:
    apex, base_y, half = np.array([0.0, 0.8, 0.0]), -0.6, 0.65
    planes = [[0.0, -1.0, 0.0, -base_y]]  # n.x <= h  with n=(0,-1,0): y >= base_y
    for sx, sz in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        edge = np.array([sx * half, base_y, sz * half])
        n = np.array([sx * (apex[1] - base_y), half, sz * (apex[1] - base_y)])
        n /= np.linalg.norm(n)
        planes.append([*n, float(n @ edge)])
    return np.array(planes)


# part: (kind, centre, scale xyz, rotation (rx, ry, rz) deg, extra)
# canonical: sphere r=1; box [-1,1]^3; cyl x^2+z^2<=1, |y|<=1; cone apex y=+1, base r=1 at y=-1;
# torus in the xz plane, R=1, minor radius `extra` (uniform scale only); poly: planes n.x <= h (extra).
PARTS: dict[str, list[tuple]] = {
    "sphere": [("sphere", (0, 0, 0), (0.85,) * 3, (0, 0, 0), None)],
    "cube": [("box", (0, 0, 0), (0.6,) * 3, (0, 0, 0), None)],
    "cylinder": [("cyl", (0, 0, 0), (0.5, 0.85, 0.5), (0, 0, 0), None)],
    "cone": [("cone", (0, 0, 0), (0.7, 0.85, 0.7), (0, 0, 0), None)],
    "torus": [("torus", (0, 0, 0), (0.68,) * 3, (70, 0, 0), 0.36)],
    "capsule": [("cyl", (0, 0, 0), (0.36, 0.5, 0.36), (0, 0, 90), None),
                ("sphere", (0.5, 0, 0), (0.36,) * 3, (0, 0, 0), None),
                ("sphere", (-0.5, 0, 0), (0.36,) * 3, (0, 0, 0), None)],
    "dumbbell": [("sphere", (0.6, 0, 0), (0.36,) * 3, (0, 0, 0), None),
                 ("sphere", (-0.6, 0, 0), (0.36,) * 3, (0, 0, 0), None),
                 ("cyl", (0, 0, 0), (0.13, 0.6, 0.13), (0, 0, 90), None)],
    "mushroom": [("sphere", (0, 0.2, 0), (0.85, 0.45, 0.85), (0, 0, 0), None),
                 ("cyl", (0, -0.4, 0), (0.25, 0.5, 0.25), (0, 0, 0), None)],
    "table": [("box", (0, 0.3, 0), (0.82, 0.08, 0.58), (0, 0, 0), None)]
    + [("cyl", (sx * 0.64, -0.2, sz * 0.42), (0.07, 0.45, 0.07), (0, 0, 0), None) for sx in (-1, 1) for sz in (-1, 1)],
    "arrow": [("cyl", (-0.35, 0, 0), (0.14, 0.55, 0.14), (0, 0, 90), None),
              ("cone", (0.5, 0, 0), (0.4, 0.35, 0.4), (0, 0, -90), None)],
    "pyramid": [("poly", (0, 0, 0), (1, 1, 1), (0, 0, 0), _pyramid_planes())],
    "lollipop": [("sphere", (0, 0.4, 0), (0.45,) * 3, (0, 0, 0), None),
                 ("cyl", (0, -0.45, 0), (0.07, 0.45, 0.07), (0, 0, 0), None)],
    "snowman": [("sphere", (0, -0.45, 0), (0.48,) * 3, (0, 0, 0), None),
                ("sphere", (0, 0.22, 0), (0.33,) * 3, (0, 0, 0), None),
                ("sphere", (0, 0.7, 0), (0.22,) * 3, (0, 0, 0), None)],
    "hourglass": [("cone", (0, -0.43, 0), (0.6, 0.43, 0.6), (0, 0, 0), None),
                  ("cone", (0, 0.43, 0), (0.6, 0.43, 0.6), (180, 0, 0), None)],
    "cross": [("box", (0, 0, 0), (0.85, 0.2, 0.2), (0, 0, 0), None),
              ("box", (0, 0, 0), (0.2, 0.85, 0.2), (0, 0, 0), None),
              ("box", (0, 0, 0), (0.2, 0.2, 0.85), (0, 0, 0), None)],
}
BOUND = 1.12  # every shape fits in the object-space sphere of this radius
assert set(PARTS) == set(SHAPES)


def _part_tensors(part):
    kind, c, s, rot, extra = part
    A = np.diag(1.0 / np.asarray(s, float)) @ _rot(*rot).T  # x_loc = A (x_obj - c)
    return kind, torch.tensor(c, dtype=torch.float32), torch.tensor(A, dtype=torch.float32), extra


_PARTS_T = {k: [_part_tensors(p) for p in v] for k, v in PARTS.items()}


def _dot(a, b):
    return (a * b).sum(-1)


def _hit_sphere(o, d):
    a, b, c = _dot(d, d), _dot(o, d), _dot(o, o) - 1.0
    disc = b * b - a * c
    t = (-b - disc.clamp_min(0).sqrt()) / a
    t = torch.where((disc > 0) & (t > 0), t, _INF)
    return t, o + t.clamp(max=1e6)[:, None] * d


def _hit_poly(o, d, planes):
    n, h = planes[:, :3], planes[:, 3]
    den, num = d @ n.T, h[None] - o @ n.T  # [M, P]
    tp = num / torch.where(den.abs() < 1e-9, torch.full_like(den, 1e-9), den)
    t_near = torch.where(den < 0, tp, torch.full_like(tp, -_INF))
    t_far = torch.where(den > 0, tp, torch.full_like(tp, _INF))
    outside_parallel = ((den.abs() < 1e-9) & (num < 0)).any(1)
    tn, which = t_near.max(1)
    tf = t_far.min(1).values
    ok = (tn <= tf) & (tn > 0) & ~outside_parallel
    return torch.where(ok, tn, _INF), n[which]


_BOX = torch.tensor([[1, 0, 0, 1], [-1, 0, 0, 1], [0, 1, 0, 1], [0, -1, 0, 1], [0, 0, 1, 1], [0, 0, -1, 1]],
                    dtype=torch.float32)


def _hit_box(o, d):
    return _hit_poly(o, d, _BOX)


def _hit_cyl(o, d):
    ox, oy, oz, dx, dy, dz = o[:, 0], o[:, 1], o[:, 2], d[:, 0], d[:, 1], d[:, 2]
    a = dx * dx + dz * dz
    b = ox * dx + oz * dz
    c = ox * ox + oz * oz - 1
    disc = b * b - a * c
    ts = (-b - disc.clamp_min(0).sqrt()) / a.clamp_min(1e-12)
    ys = oy + ts * dy
    ts = torch.where((disc > 0) & (ts > 0) & (ys.abs() <= 1), ts, _INF)
    safe_dy = torch.where(dy.abs() < 1e-9, torch.full_like(dy, 1e-9), dy)
    tc = torch.minimum((1 - oy) / safe_dy, (-1 - oy) / safe_dy)
    xc, zc = ox + tc * dx, oz + tc * dz
    tc = torch.where((tc > 0) & (xc * xc + zc * zc <= 1), tc, _INF)
    t = torch.minimum(ts, tc)
    p = o + t.clamp(max=1e6)[:, None] * d
    n = torch.where((ts <= tc)[:, None], p * torch.tensor([1.0, 0.0, 1.0]),
                    torch.stack([torch.zeros_like(dy), -torch.sign(safe_dy), torch.zeros_like(dy)], 1))
    return t, n


def _hit_cone(o, d):
    k2 = 0.25  # radius (1 - y) / 2
    ox, oy, oz, dx, dy, dz = o[:, 0], o[:, 1], o[:, 2], d[:, 0], d[:, 1], d[:, 2]
    a = dx * dx + dz * dz - k2 * dy * dy
    b = ox * dx + oz * dz + k2 * (1 - oy) * dy
    c = ox * ox + oz * oz - k2 * (1 - oy) ** 2
    disc = b * b - a * c
    sq = disc.clamp_min(0).sqrt()
    a_safe = torch.where(a.abs() < 1e-9, torch.full_like(a, 1e-9), a)
    t1, t2 = (-b - sq) / a_safe, (-b + sq) / a_safe
    t1, t2 = torch.minimum(t1, t2), torch.maximum(t1, t2)
    ts = torch.full_like(a, _INF)
    for tt in (t2, t1):  # t1 has priority
        y = oy + tt * dy
        ts = torch.where((disc > 0) & (tt > 0) & (y >= -1) & (y <= 1), tt, ts)
    safe_dy = torch.where(dy.abs() < 1e-9, torch.full_like(dy, 1e-9), dy)
    tc = (-1 - oy) / safe_dy
    xc, zc = ox + tc * dx, oz + tc * dz
    tc = torch.where((tc > 0) & (xc * xc + zc * zc <= 1), tc, _INF)
    t = torch.minimum(ts, tc)
    p = o + t.clamp(max=1e6)[:, None] * d
    n_side = torch.stack([p[:, 0], k2 * (1 - p[:, 1]), p[:, 2]], 1)
    n_cap = torch.zeros_like(p)
    n_cap[:, 1] = -1
    return t, torch.where((ts <= tc)[:, None], n_side, n_cap)


def _hit_torus(o, d, r):
    dn_len = d.norm(dim=1)
    dn = d / dn_len[:, None]
    # enter the bounding sphere of radius 1 + r
    R = 1 + r
    b = _dot(o, dn)
    c = _dot(o, o) - R * R
    disc = b * b - c
    t0 = (-b - disc.clamp_min(0).sqrt()).clamp_min(0)
    t1 = -b + disc.clamp_min(0).sqrt()
    cand = disc > 0
    t = torch.full_like(b, _INF)
    if cand.any():
        idx = cand.nonzero().squeeze(1)
        oo, dd, tt, tmax = o[idx], dn[idx], t0[idx], t1[idx]
        for _ in range(48):
            p = oo + tt[:, None] * dd
            q = torch.sqrt(p[:, 0] ** 2 + p[:, 2] ** 2) - 1
            dist = torch.sqrt(q * q + p[:, 1] ** 2) - r
            tt = tt + dist
        p = oo + tt[:, None] * dd
        q = torch.sqrt(p[:, 0] ** 2 + p[:, 2] ** 2) - 1
        dist = torch.sqrt(q * q + p[:, 1] ** 2) - r
        hit = (dist.abs() < 2e-3) & (tt < tmax)
        t[idx] = torch.where(hit, tt, _INF)
    t = t / dn_len
    p = o + t.clamp(max=1e6)[:, None] * d
    rho = torch.sqrt(p[:, 0] ** 2 + p[:, 2] ** 2).clamp_min(1e-6)
    qq = (rho - 1) / rho
    n = torch.stack([p[:, 0] * qq, p[:, 1], p[:, 2] * qq], 1)
    return t, n


def _intersect_shape(shape: str, o: torch.Tensor, d: torch.Tensor):
    """Closest hit of rays (object space) with a shape: t [M] (inf = miss), object-space normal [M,3]."""
    best_t = torch.full((o.shape[0],), _INF)
    best_n = torch.zeros_like(o)
    for kind, c, A, extra in _PARTS_T[shape]:
        ol, dl = (o - c) @ A.T, d @ A.T
        if kind == "sphere":
            t, n = _hit_sphere(ol, dl)
        elif kind == "box":
            t, n = _hit_box(ol, dl)
        elif kind == "cyl":
            t, n = _hit_cyl(ol, dl)
        elif kind == "cone":
            t, n = _hit_cone(ol, dl)
        elif kind == "torus":
            t, n = _hit_torus(ol, dl, float(extra))
        else:
            t, n = _hit_poly(ol, dl, torch.tensor(extra, dtype=torch.float32))
        better = t < best_t
        best_t = torch.where(better, t, best_t)
        best_n = torch.where(better[:, None], n @ A, best_n)  # normals transform by A^T
    return best_t, best_n


# ---------------------------------------------------------------- hashing, noise, textures
def _hash(*ints: torch.Tensor) -> torch.Tensor:
    """Deterministic integer hash -> uniform float in [0, 1)."""
    h = torch.zeros_like(ints[0], dtype=torch.int64)
    for k, v in zip((73856093, 19349663, 83492791, 2654435761, 97531), ints):
        h = h ^ (v.to(torch.int64) * k)
        h = (h ^ (h >> 15)) * 0x2C1B3C6D
        h = h & 0xFFFFFFFF
    h = (h ^ (h >> 12)) * 0x297A2D39 & 0xFFFFFFFF
    h = h ^ (h >> 15)
    return (h & 0xFFFFFF).to(torch.float32) / float(0x1000000)


def _uniforms(seed: torch.Tensor, count: int) -> torch.Tensor:
    """[B] int seeds -> [B, count] uniforms (the same seed gives the same numbers at any batch size)."""
    j = torch.arange(count)[None].expand(seed.shape[0], count)
    return _hash(seed[:, None].expand_as(j), j)


def _value_noise(p: torch.Tensor, seed: torch.Tensor, scale: float) -> torch.Tensor:
    """Smooth 3D value noise in [0, 1] at points p [M,3] with per-point seeds [M]."""
    q = p / scale
    i = torch.floor(q)
    f = q - i
    f = f * f * (3 - 2 * f)
    i = i.to(torch.int64)
    out = torch.zeros(p.shape[0])
    for dx in (0, 1):
        wx = f[:, 0] if dx else 1 - f[:, 0]
        for dy in (0, 1):
            wy = f[:, 1] if dy else 1 - f[:, 1]
            for dz in (0, 1):
                wz = f[:, 2] if dz else 1 - f[:, 2]
                out = out + wx * wy * wz * _hash(i[:, 0] + dx, i[:, 1] + dy, i[:, 2] + dz, seed)
    return out


def _tri(x):
    return 2 * (x - torch.floor(x + 0.5)).abs()  # triangle wave in [0, 1], period 1


def texture_ink(name: str, p: torch.Tensor, seed: torch.Tensor) -> torch.Tensor:
    """Fraction [M] of 'ink' (the dark pattern colour) of texture `name` at object-space points p [M,3]."""
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    two_pi = 2 * math.pi
    if name == "plain":
        return torch.zeros_like(x)
    if name == "stripes":
        return (torch.sin(two_pi * y / 0.45) > 0).float()
    if name == "fine_stripes":
        return (torch.sin(two_pi * x / 0.24) > 0.2).float()
    if name == "bands":
        return (torch.sin(two_pi * z / 0.6) > 0.3).float()
    if name == "checker":
        return ((torch.floor(x / 0.4) + torch.floor(y / 0.4) + torch.floor(z / 0.4)) % 2 == 0).float()
    if name in ("dots", "big_dots"):
        # a lattice of thin rods along the 3 axes: any surface crosses them in dots, whatever its offset
        sp, rad = (0.36, 0.25) if name == "dots" else (0.75, 0.22)
        near = ((p / sp - torch.round(p / sp)).abs() < rad).sum(1)
        return (near >= 2).float()
    if name == "grid":
        g = (p / 0.4 - torch.round(p / 0.4)).abs().min(1).values
        return (g < 0.09).float()
    if name == "rings":
        return (torch.sin(two_pi * (p - torch.tensor([0.5, 0.6, 0.4])).norm(dim=1) / 0.3) > 0).float()  # off-centre shells
    if name == "waves":
        return (torch.sin(two_pi * (y + 0.15 * torch.sin(two_pi * x / 0.6)) / 0.4) > 0).float()
    if name == "zigzag":
        return (torch.sin(two_pi * (y + 0.25 * _tri(z / 0.4)) / 0.45) > 0).float()
    if name == "blotches":
        return (_value_noise(p, seed, 0.35) > 0.55).float()
    if name == "speckle":
        return (_value_noise(p, seed, 0.14) > 0.6).float()
    if name == "camo":
        v = _value_noise(p, seed, 0.3)
        return ((v > 0.42).float() + (v > 0.6).float()) / 2
    if name == "hatch":
        a = torch.sin(two_pi * (x + y) / 0.3) > 0.4
        b = torch.sin(two_pi * (x - y) / 0.3) > 0.4
        return (a | b).float()
    raise UnknownNameError("texture", name, ["plain", "stripes", "fine_stripes", "bands", "checker", "dots",
                                             "big_dots", "grid", "rings", "waves", "zigzag", "blotches",
                                             "speckle", "camo", "hatch"])


def ink_color(rgb: torch.Tensor) -> torch.Tensor:
    """Pattern colour for a base colour: a dark shade (light bases) or a light tint (dark bases)."""
    lum = (rgb * torch.tensor([0.3, 0.59, 0.11])).sum(-1, keepdim=True)
    return torch.where(lum > 0.35, rgb * 0.22, rgb * 0.4 + 0.55)


# ---------------------------------------------------------------- backgrounds
def _muted(u3: torch.Tensor) -> torch.Tensor:
    return 0.3 + 0.45 * u3 * 0.6 + 0.15 * u3.mean(-1, keepdim=True)


def backgrounds(names: list[str], seeds: torch.Tensor, size: int) -> torch.Tensor:
    """[B,3,H,W] float background images for background names and int seeds."""
    B, H = len(names), size
    v, u = torch.meshgrid(1 - (torch.arange(H) + 0.5) / H * 2, (torch.arange(H) + 0.5) / H * 2 - 1, indexing="ij")
    U = _uniforms(seeds, 64)  # [B,64]
    out = torch.empty(B, 3, H, H)
    names = np.asarray(names)
    for name in np.unique(names):
        idx = torch.from_numpy(np.nonzero(names == name)[0])
        P = U[idx]
        c1, c2 = _muted(P[:, 0:3]), _muted(P[:, 3:6])
        if name == "plain":
            img = c1[:, :, None, None].expand(-1, -1, H, H)
        elif name == "gradient":
            ang = P[:, 6] * 2 * math.pi
            t = ((u[None] * torch.cos(ang)[:, None, None] + v[None] * torch.sin(ang)[:, None, None]) * 0.5 + 0.5)
            img = c1[:, :, None, None] * (1 - t[:, None]) + c2[:, :, None, None] * t[:, None]
        elif name == "ground_sky":
            hz = -0.55 + 0.5 * P[:, 6]
            sky_top = torch.stack([0.35 + 0.2 * P[:, 7], 0.55 + 0.2 * P[:, 7], 0.85 + 0.1 * P[:, 8]], 1)
            sky_low = sky_top * 0.5 + 0.45
            k = P[:, 9] * 3
            ground = torch.where((k < 1)[:, None], torch.tensor([0.3, 0.5, 0.2]),
                                 torch.where((k < 2)[:, None], torch.tensor([0.55, 0.42, 0.28]), torch.tensor([0.5, 0.5, 0.48])))
            ground = ground * (0.85 + 0.3 * P[:, 10:11])
            tsky = ((v[None] - hz[:, None, None]) / (1 - hz[:, None, None])).clamp(0, 1)
            sky = sky_low[:, :, None, None] * (1 - tsky[:, None]) + sky_top[:, :, None, None] * tsky[:, None]
            gshade = (0.75 + 0.25 * (v[None] + 1) / (hz[:, None, None] + 1).clamp_min(1e-3)).clamp(0.6, 1.1)
            gimg = ground[:, :, None, None] * gshade[:, None]
            img = torch.where((v[None] > hz[:, None, None])[:, None], sky, gimg)
        elif name == "clutter":
            img = c1[:, :, None, None].expand(-1, -1, H, H).clone()
            for k in range(7):
                q = P[:, 12 + 7 * k: 19 + 7 * k]
                cx, cy = q[:, 0] * 2.4 - 1.2, q[:, 1] * 2.4 - 1.2
                rx, ry = 0.12 + 0.35 * q[:, 2], 0.12 + 0.35 * q[:, 3]
                dxu = (u[None] - cx[:, None, None]) / rx[:, None, None]
                dyv = (v[None] - cy[:, None, None]) / ry[:, None, None]
                inside = torch.where((q[:, 4] < 0.5)[:, None, None], dxu ** 2 + dyv ** 2 < 1,
                                     (dxu.abs() < 1) & (dyv.abs() < 1))
                col = _muted(torch.stack([q[:, 5], q[:, 6], (q[:, 5] + q[:, 6] * 3) % 1], 1))
                img = torch.where(inside[:, None], col[:, :, None, None], img)
        elif name == "noisy":
            p = torch.stack([u, v, torch.zeros_like(u)], -1).reshape(-1, 3)
            chans = []
            for ch in range(3):
                ps = p[None].expand(len(idx), -1, -1).reshape(-1, 3)
                sd = (seeds[idx][:, None] * 3 + ch).expand(-1, H * H).reshape(-1)
                chans.append(_value_noise(ps, sd, 0.18).reshape(len(idx), H, H))
            img = (torch.stack(chans, 1) - 0.5) * 1.8 + 0.5
        elif name == "tiles":
            ang = P[:, 6] * math.pi
            per = 0.25 + 0.2 * P[:, 7]
            ca, sa = torch.cos(ang)[:, None, None], torch.sin(ang)[:, None, None]
            a = (u[None] * ca + v[None] * sa) / per[:, None, None]
            b = (-u[None] * sa + v[None] * ca) / per[:, None, None]
            chk = ((torch.floor(a) + torch.floor(b)) % 2 == 0)[:, None]
            img = torch.where(chk, c1[:, :, None, None] * 1.2, c2[:, :, None, None] * 0.7)
        else:
            raise UnknownNameError("background", str(name), ["plain", "gradient", "ground_sky", "clutter", "noisy", "tiles"])
        out[idx] = img.clamp(0, 1)
    return out


# ---------------------------------------------------------------- rendering
@dataclass
class Render:
    """Output of `render`. Background pixels: depth inf, mask False, coords 0, part -1."""

    image: torch.Tensor  # uint8 [B,3,H,W]
    depth: torch.Tensor  # float32 [B,H,W], distance along the ray from the camera (inf = background)
    mask: torch.Tensor  # bool [B,H,W], the object visible (not occluded)
    coords: torch.Tensor  # float32 [B,3,H,W], object-space 3D point seen at each object pixel
    occluder_mask: torch.Tensor  # bool [B,H,W]

    def depth_filled(self, far: float = FAR) -> torch.Tensor:
        """Depth with background set to `far` (for depth-aware corruptions)."""
        return torch.where(torch.isinf(self.depth), torch.full_like(self.depth, far), self.depth)


def rotations(frame: pd.DataFrame) -> torch.Tensor:
    """[B,3,3] object-to-camera rotations from yaw/pitch/roll (+ the fixed camera elevation)."""
    cam = _rot(CAM_ELEVATION, 0, 0)
    Rs = [cam @ _rot(p, y, r) for y, p, r in zip(frame["yaw"], frame["pitch"], frame["roll"])]
    return torch.tensor(np.stack(Rs), dtype=torch.float32)


def pixel_rays(size: int, camera: str = "ortho"):
    """Ray origins and directions [N,3] for an HxW image (row-major), camera frame."""
    if camera not in CAMERAS:
        raise UnknownNameError("camera", camera, list(CAMERAS))
    v, u = torch.meshgrid(1 - (torch.arange(size) + 0.5) / size * 2, (torch.arange(size) + 0.5) / size * 2 - 1,
                          indexing="ij")
    u, v = u.reshape(-1), v.reshape(-1)
    if camera == "ortho":
        o = torch.stack([u, v, torch.full_like(u, CAM_Z)], 1)
        d = torch.tensor([0.0, 0.0, -1.0]).expand(u.shape[0], 3).contiguous()
    else:
        o = torch.tensor([0.0, 0.0, CAM_Z]).expand(u.shape[0], 3).contiguous()
        d = torch.stack([u / CAM_Z, v / CAM_Z, -torch.ones_like(u)], 1)
    return o, d


def project(points_cam: torch.Tensor, size: int, camera: str = "ortho") -> torch.Tensor:
    """Camera-frame points [...,3] -> continuous pixel coordinates [...,2] as (row, col)."""
    x, y, z = points_cam.unbind(-1)
    if camera == "perspective":
        s = CAM_Z / (CAM_Z - z)
        x, y = x * s, y * s
    col = (x + 1) / 2 * size - 0.5
    row = (1 - y) / 2 * size - 0.5
    return torch.stack([row, col], -1)


def object_to_camera(coords: torch.Tensor, frame: pd.DataFrame) -> torch.Tensor:
    """Object-space points [B,...,3] of each scene -> camera-frame points [B,...,3]."""
    R = rotations(frame)
    s = torch.tensor(frame["size"].to_numpy(), dtype=torch.float32)
    c = torch.tensor(np.stack([frame["x"], frame["y"], np.zeros(len(frame))], 1), dtype=torch.float32)
    shp = coords.shape
    pts = coords.reshape(shp[0], -1, 3)
    out = torch.einsum("bij,bnj->bni", R, pts) * s[:, None, None] + c[:, None]
    return out.reshape(shp)


def _light_dirs(frame):
    az, el = np.radians(frame["light_az"].to_numpy()), np.radians(frame["light_el"].to_numpy())
    L = np.stack([np.cos(el) * np.sin(az), np.sin(el), np.cos(el) * np.cos(az)], 1)
    return torch.tensor(L, dtype=torch.float32)


def _render_chunk(frame: pd.DataFrame, size: int, camera: str):
    B, N = len(frame), size * size
    o_w, d_w = pixel_rays(size, camera)
    R = rotations(frame)
    s = torch.tensor(frame["size"].to_numpy(), dtype=torch.float32)
    c = torch.tensor(np.stack([frame["x"], frame["y"], np.zeros(B)], 1), dtype=torch.float32)
    t_obj = torch.full((B, N), _INF)
    n_cam = torch.zeros(B, N, 3)
    p_obj = torch.zeros(B, N, 3)
    shapes = frame["shape"].to_numpy()
    # candidate rays: those that hit the object's bounding sphere (world radius BOUND * size)
    dn = d_w / d_w.norm(dim=1, keepdim=True)
    oc = o_w[None] - c[:, None]  # [B,N,3]
    b = (oc * dn[None]).sum(-1)
    cc = (oc * oc).sum(-1) - (BOUND * s[:, None]) ** 2
    cand = (b * b - cc) > 0
    for shape in np.unique(shapes):
        sel = torch.from_numpy(shapes == shape)
        bi, ni = (cand & sel[:, None]).nonzero(as_tuple=True)
        if bi.numel() == 0:
            continue
        Rb = R[bi]
        o = torch.einsum("mi,mij->mj", o_w[ni] - c[bi], Rb) / s[bi, None]
        d = torch.einsum("mi,mij->mj", d_w[ni], Rb) / s[bi, None]
        t, n = _intersect_shape(str(shape), o, d)
        hit = torch.isfinite(t)
        bi, ni, t, n, o, d = bi[hit], ni[hit], t[hit], n[hit], o[hit], d[hit]
        t_obj[bi, ni] = t
        p_obj[bi, ni] = o + t[:, None] * d
        nc = torch.einsum("mij,mj->mi", R[bi], n)
        nc = nc / nc.norm(dim=1, keepdim=True).clamp_min(1e-9)
        flip = (nc * d_w[ni]).sum(1) > 0
        n_cam[bi, ni] = torch.where(flip[:, None], -nc, nc)
    # occluding bar: a thin box in front, through the object's centre (+ offset), at angle occ_angle
    t_occ = torch.full((B, N), _INF)
    occ = frame["occluder"].to_numpy() > 0
    if occ.any():
        oi = torch.from_numpy(np.nonzero(occ)[0])
        f = frame.iloc[oi.numpy()]
        ang = np.radians(f["occ_angle"].to_numpy())
        width = f["occluder"].to_numpy() * 2 * BOUND * 0.8 * f["size"].to_numpy()
        perp = np.stack([-np.sin(ang), np.cos(ang)], 1)
        centre = np.stack([f["x"], f["y"]], 1) + perp * (f["occ_offset"].to_numpy() * f["size"].to_numpy())[:, None]
        for j, b_ in enumerate(oi.tolist()):
            A = np.diag([1 / 3.0, 2 / width[j], 1 / 0.05]) @ _rot(0, 0, np.degrees(ang[j])).T
            A = torch.tensor(A, dtype=torch.float32)
            cen = torch.tensor([centre[j, 0], centre[j, 1], OCC_Z], dtype=torch.float32)
            t, _ = _hit_box((o_w - cen) @ A.T, d_w @ A.T)
            t_occ[b_] = t
    mask = torch.isfinite(t_obj) & (t_obj < t_occ)
    occ_mask = torch.isfinite(t_occ) & ~mask
    t_front = torch.minimum(t_obj, t_occ)
    depth = t_front * d_w.norm(dim=1)[None]
    # shading, on foreground pixels only
    textures = frame["texture"].to_numpy()
    base = torch.tensor(np.stack([COLORS[k] for k in frame["color"]]), dtype=torch.float32)
    tex_seed = torch.tensor(frame["tex_seed"].to_numpy(), dtype=torch.int64)
    anyfg2 = mask | occ_mask
    fb, fn = anyfg2.nonzero(as_tuple=True)
    is_obj = mask[fb, fn]
    bi, ni = fb[is_obj], fn[is_obj]
    ink = torch.zeros(bi.shape[0])
    tex_names, tex_code = np.unique(textures, return_inverse=True)  # per scene, not per pixel
    tex_b = torch.from_numpy(tex_code.astype(np.int64).reshape(-1))[bi]
    for k, name in enumerate(tex_names):
        m = tex_b == k
        if m.any():
            ink[m] = texture_ink(str(name), p_obj[bi[m], ni[m]], tex_seed[bi[m]])
    albedo = torch.empty(fb.shape[0], 3)
    albedo[:] = torch.tensor([0.42, 0.36, 0.3])  # the occluding bar
    cb = base[bi]
    albedo[is_obj] = cb * (1 - ink[:, None]) + ink_color(cb) * ink[:, None]
    n_cam[occ_mask] = torch.tensor([0.0, 0.0, 1.0])
    normals = n_cam
    L = _light_dirs(frame)
    lam = (normals[fb, fn] * L[fb]).sum(-1).clamp_min(0)
    bright = torch.tensor(frame["brightness"].to_numpy(), dtype=torch.float32)[fb]
    fg = (albedo * ((0.3 + 0.8 * lam) * bright)[:, None]).clamp(0, 1)
    bg = backgrounds(list(frame["background"]), torch.tensor(frame["bg_seed"].to_numpy(), dtype=torch.int64), size)
    img = bg.permute(0, 2, 3, 1).reshape(B, N, 3).contiguous()
    img[fb, fn] = fg
    anyfg = anyfg2[..., None]
    # styles
    styles = frame["style"].to_numpy()
    if (styles != "shaded").any():
        H = size
        lab = mask.long() + 2 * occ_mask.long()
        for st in ("edges", "silhouette"):
            si = torch.from_numpy(np.nonzero(styles == st)[0])
            if si.numel() == 0:
                continue
            if st == "silhouette":
                img[si] = torch.where(anyfg[si], torch.tensor(0.0), torch.tensor(1.0)).expand(-1, -1, 3)
            else:
                img[si] = _edges(lab[si].reshape(-1, H, H), depth[si].reshape(-1, H, H),
                                 normals[si].reshape(-1, H, H, 3)).reshape(-1, N, 1).expand(-1, -1, 3)
    image = (img * 255 + 0.5).clamp(0, 255).to(torch.uint8).reshape(B, size, size, 3).permute(0, 3, 1, 2)
    return (image.contiguous(), depth.reshape(B, size, size), mask.reshape(B, size, size),
            p_obj.reshape(B, size, size, 3).permute(0, 3, 1, 2).contiguous() * mask.reshape(B, 1, size, size),
            occ_mask.reshape(B, size, size))


def _edges(lab, depth, normals, depth_jump=0.12, cos_max=0.75):
    """Black-on-white line drawing from label, depth and normal discontinuities ([B,H,W] in {0,1} float)."""
    dep = torch.where(torch.isinf(depth), torch.full_like(depth, 1e3), depth)
    edge = torch.zeros_like(dep, dtype=torch.bool)
    for dim in (1, 2):
        a = [slice(None)] * 3
        b_ = [slice(None)] * 3
        a[dim], b_[dim] = slice(None, -1), slice(1, None)
        a, b_ = tuple(a), tuple(b_)
        fg_pair = (lab[a] > 0) | (lab[b_] > 0)
        diff = (lab[a] != lab[b_]) | ((dep[a] - dep[b_]).abs() > depth_jump)
        diff |= ((normals[a] * normals[b_]).sum(-1) < cos_max) & (lab[a] > 0) & (lab[b_] > 0)
        diff &= fg_pair
        a_near = dep[a] <= dep[b_]
        ea = torch.zeros_like(edge)
        ea[a] = diff & a_near
        eb = torch.zeros_like(edge)
        eb[b_] = diff & ~a_near
        edge |= ea | eb
    return (~edge).float()


def render(frame: pd.DataFrame, size: int = 64, camera: str = "ortho", batch: int = 256,
           progress: bool = False) -> Render:
    """Render every scene (row) of `frame`. Deterministic: the same rows give byte-identical images."""
    validate_frame(frame)
    if camera not in CAMERAS:
        raise UnknownNameError("camera", camera, list(CAMERAS))
    frame = frame.reset_index(drop=True)
    parts = []
    rng = range(0, len(frame), batch)
    if progress:
        from tqdm.auto import tqdm

        rng = tqdm(rng, desc="render", unit="batch")
    for i in rng:
        parts.append(_render_chunk(frame.iloc[i:i + batch], size, camera))
    if not parts:
        e = torch.empty
        return Render(e(0, 3, size, size, dtype=torch.uint8), e(0, size, size), e(0, size, size, dtype=torch.bool),
                      e(0, 3, size, size), e(0, size, size, dtype=torch.bool))
    return Render(*[torch.cat(x) for x in zip(*parts)])
