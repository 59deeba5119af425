"""physjax: a JAX toolkit for the statistical physics of learning systems."""

__version__ = "0.1.0"
