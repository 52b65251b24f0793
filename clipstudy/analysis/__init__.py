"""Chapter analyses: small pure functions over tidy frames, one module per study axis.

Notebooks narrate and call these; anything longer than a few lines lives here so it is tested.
`effects` holds the shared vocabulary of the six factors and the tidy effects table that
every chapter writes (chapter 10 reads them all).
"""
