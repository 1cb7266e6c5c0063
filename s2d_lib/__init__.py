"""s2d_lib: the S2D model (landmark-aware ViT with MCP prompters and TMA adapters), its data,
training, and visualisation, as used by the notebooks."""
from . import model as model  # registers the s2d_* models with timm

__all__ = ["model"]
__version__ = "0.1.0"
