"""autosel: find the best data recipe for supervised fine-tuning under a fixed budget.

The import of this package is deliberately light: heavy libraries (torch,
transformers, botorch) are imported only inside the functions that need them.
"""

__version__ = "0.1.0"
