"""Analyses shared by every axis: `effects`, the statistics of the tidy effects table each chapter writes
(treatment minus base, n, intervals over seeds and images, verdicts; chapter 10 reads them all).

An axis's own table functions live in its module, `clipstudy.axes.NAME`, next to its chapter code; the old
paths `clipstudy.analysis.NAME` still import, with a DeprecationWarning (`clipstudy.deprecations`).
`lab_eval` is kept as a name of `clipstudy.lab.evaluate`.
"""
