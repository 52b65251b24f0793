"""Analyses: small pure functions over tidy frames (metrics applied to a study's tables), one module per axis.

The chapters call them through their axis modules (`clipstudy.axes`), which hold the chapter logic; the
runner's axes (`clipstudy.run.axes`) reuse them. `effects` holds the tidy effects table every chapter writes
(chapter 10 reads them all). `lab_eval` is kept as a name of `clipstudy.lab.evaluate`.
"""
