"""naomi-nb: sparse, interpretable embeddings of WordNet word senses."""
__version__ = "0.1.0"
