"""Entropy-weight index (lib.data.indices): hand-computed example and invariances."""

import numpy as np
import pandas as pd
import pytest

from lib.data.indices import entropy_index, entropy_weights, min_max_standardise


def test_hand_computed_weights():
    # a: 1,2,3 -> x' = 0, .5, 1 ; p = 0, 1/3, 2/3 ; e = -(1/ln3)(1/3 ln 1/3 + 2/3 ln 2/3)
    # b (negative): 10, 30, 20 -> x' = 1, 0, .5 ; p = 2/3, 0, 1/3 ; same entropy
    # c: 1, 1, 4 -> x' = 0, 0, 1 ; p = 0, 0, 1 ; e = 0
    df = pd.DataFrame({"a": [1.0, 2, 3], "b": [10.0, 30, 20], "c": [1.0, 1, 4]})
    res = entropy_index(df, {"a": 1, "b": -1, "c": 1})
    e_ab = -(1 / np.log(3)) * (1 / 3 * np.log(1 / 3) + 2 / 3 * np.log(2 / 3))
    d = np.array([1 - e_ab, 1 - e_ab, 1.0])
    w = d / d.sum()
    np.testing.assert_allclose(res.weights["entropy"], [e_ab, e_ab, 0.0], atol=1e-12)
    np.testing.assert_allclose(res.weights["weight"], w, atol=1e-12)
    x = np.array([[0, 1, 0], [0.5, 0, 0], [1, 0.5, 1]])
    np.testing.assert_allclose(res.index, x @ w, atol=1e-12)


def _random(seed=0, n=40):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.lognormal(size=(n, 4)), columns=list("abcd"))


def test_weights_sum_to_one_and_constant_gets_zero():
    df = _random()
    df["k"] = 3.0
    res = entropy_index(df, {c: 1 for c in df})
    assert res.weights["weight"].sum() == pytest.approx(1.0)
    assert res.weights.loc["k", "weight"] == 0.0
    assert (res.index.between(0, 1)).all()


def test_scaling_and_shifting_an_indicator_changes_nothing():
    df = _random(1)
    dirs = {"a": 1, "b": -1, "c": 1, "d": 1}
    base = entropy_index(df, dirs)
    df2 = df.assign(a=df["a"] * 1000.0, b=df["b"] * 0.01 + 5)
    other = entropy_index(df2, dirs)
    np.testing.assert_allclose(base.index, other.index, atol=1e-12)
    np.testing.assert_allclose(base.weights["weight"], other.weights["weight"], atol=1e-12)


def test_direction_flips_standardisation():
    df = _random(2)
    pos = min_max_standardise(df, {c: 1 for c in df})
    neg = min_max_standardise(df, {c: -1 for c in df})
    np.testing.assert_allclose(pos + neg, 1.0)


def test_per_period_and_two_level():
    df = _random(3, n=60)
    period = np.repeat([2012, 2013, 2014], 20)
    res = entropy_index(df, {c: 1 for c in df}, period=period, pooled=False)
    # each period spans [0, 1] on every indicator: no cross-year trend survives
    for p in (2012, 2013, 2014):
        std = res.standardised[period == p]
        assert std.min().min() == 0 and std.max().max() == 1
    assert res.weights["weight"].sum() == pytest.approx(1.0)
    dims = {"a": "x", "b": "x", "c": "y", "d": "y"}
    two = entropy_index(df, {c: 1 for c in df}, dimensions=dims, two_level=True)
    assert two.weights["weight"].sum() == pytest.approx(1.0)
    assert two.weights.groupby("dimension")["weight_within"].sum().tolist() == pytest.approx([1, 1])
    assert two.dimension_weights.sum() == pytest.approx(1.0)


def test_bad_input():
    df = _random()
    with pytest.raises(ValueError, match="direction"):
        entropy_index(df, {"a": 1})
    df.loc[3, "b"] = np.nan
    with pytest.raises(ValueError, match="'b'.*missing"):
        entropy_index(df, {c: 1 for c in df})
    with pytest.raises(ValueError, match="non-negative"):
        entropy_weights(pd.DataFrame({"a": [-1.0, 1.0]}))


def test_the_weights_table_names_indicators_in_words_and_keeps_their_column_names():
    df = _random(3, n=30)
    res = entropy_index(df, {c: 1 for c in df}, dimensions={c: "x" for c in df})
    frame = res.table(labels={"a": "internet domains"}).frame
    assert list(frame.index[:2]) == ["internet domains", "b"]   # a reader's own names stay
    assert list(frame["variable"][:2]) == ["a", "b"]
