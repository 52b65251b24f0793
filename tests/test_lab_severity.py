"""Calibrating the lab's 3D corruption strengths to the 2D severities' drops (clipstudy.lab.severity)."""
import numpy as np
import pandas as pd
import pytest

from clipstudy.lab import corrupt, sets, severity


def test_parameter_continuous_and_monotone():
    for c in corrupt.CORRUPTIONS_3D:
        for s in corrupt.SEVERITIES:  # the tabled levels are the old severities
            assert corrupt.parameter(c, s) == pytest.approx(corrupt.PARAMS_3D[c][s - 1])
        grid = np.linspace(0, corrupt.MAX_LEVEL, 60)
        vals = [corrupt.parameter(c, x) for x in grid]
        assert vals[0] == 0 and all(b > a for a, b in zip(vals, vals[1:])), c
    with pytest.raises(ValueError, match="level"):
        corrupt.parameter("fog_3d", corrupt.MAX_LEVEL + 1)


def test_level_changes_the_image_and_default_is_the_severity():
    s = sets.build("lab-3dcc", n=2, cache=False)
    img = s.images[:2]
    depth = s.extras["depth"][:2]
    a = corrupt.corrupt(img, depth, "fog_3d", 3)
    assert (a == corrupt.corrupt(img, depth, "fog_3d", 3, 3.0)).all()
    strong = corrupt.corrupt(img, depth, "fog_3d", 3, 9.0)
    assert (strong.float() - img.float()).abs().mean() > (a.float() - img.float()).abs().mean()


def test_invert_known_curve():
    levels = np.array([1.0, 2.0, 4.0, 8.0])
    drops = np.array([0.1, 0.2, 0.15, 0.4])  # noisy dip at 4: the running maximum is used
    assert severity.invert(0.2, levels, drops) == (2.0, True)
    lv, ok = severity.invert(0.3, levels, drops)  # between 4 (0.2 after cummax) and 8 (0.4)
    assert ok and lv == pytest.approx(6.0)
    assert severity.invert(0.05, levels, drops) == (pytest.approx(0.5), True)
    assert severity.invert(0.9, levels, drops) == (8.0, False)


def _measured(two_d: dict[int, float], three_d: dict[str, tuple]) -> pd.DataFrame:
    rows = [dict(corruption="none", kind="clean", severity=0, level=0.0, drop=0.0)]
    for s, d in two_d.items():
        rows += [dict(corruption=c, kind="2D", severity=s, level=float(s), drop=d + (0.02 if i else -0.02))
                 for i, c in enumerate(corrupt.CORRUPTIONS_2D[:2])]
    for c, (lv, dr) in three_d.items():
        rows += [dict(corruption=c, kind="3D", severity=np.nan, level=x, drop=y) for x, y in zip(lv, dr)]
    return pd.DataFrame(rows)


def test_calibrate_matches_the_mean_2d_drop_per_severity():
    two = {1: 0.05, 2: 0.1, 3: 0.2, 4: 0.3, 5: 0.4}
    lv = np.array([1.0, 5.0, 10.0, 20.0])
    curves = {c: (lv, lv / 20 * 0.5) for c in corrupt.CORRUPTIONS_3D}  # drop = level / 40
    t = severity.calibrate(_measured(two, curves))
    assert len(t) == len(corrupt.CORRUPTIONS_3D) * 5
    for row in t.itertuples():
        assert row.target_drop == pytest.approx(two[row.severity])
        assert row.level == pytest.approx(two[row.severity] * 40)
        assert row.reached
    levels = severity.levels_of(t)
    assert set(levels) == set(corrupt.CORRUPTIONS_3D) and all(len(v) == 5 for v in levels.values())
    # a corruption that cannot reach the target is flagged, never silently capped
    curves["flash"] = (lv, np.full(4, 0.01))
    t2 = severity.calibrate(_measured(two, curves))
    assert not t2.loc[t2["corruption"] == "flash", "reached"].any()


def test_calibrated_levels_are_part_of_the_set_key():
    a = sets.cache_path("lab-3dcc", sets.WorldConfig(), 4, 6, 32)
    b = sets.cache_path("lab-3dcc", sets.WorldConfig(), 4, 6, 32, {"fog_3d": [1, 2, 3, 4, 5]})
    c = sets.cache_path("lab-3dcc", sets.WorldConfig(), 4, 6, 32, {"fog_3d": [1, 2, 3, 4, 6]})
    assert len({a, b, c}) == 3
    s = sets.build("lab-3dcc", n=2, size=32, cache=False, levels={"fog_3d": [2.0, 4.0, 6.0, 8.0, 10.0]})
    f = s.factors
    assert f.loc[(f["corruption"] == "fog_3d") & (f["severity"] == 3), "level"].eq(6.0).all()
    assert f.loc[(f["corruption"] == "flash") & (f["severity"] == 3), "level"].eq(3.0).all()
    with pytest.raises(ValueError, match="lab-3dcc only"):
        sets.build("lab-val", n=2, levels={"fog_3d": [1, 2, 3, 4, 5]})
