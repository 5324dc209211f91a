"""evokd: distil an LLM teacher into a small student with the EvoKD loop (Liu et al., 2024)."""

__version__ = "0.1.0"
