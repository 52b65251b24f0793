"""clipstudy: a reproducible study of CLIP robustness (Tu, Deng & Gedeon, arXiv 2410.01534)."""
__version__ = "0.1.0"
