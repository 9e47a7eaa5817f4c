"""Functional modules: units that fire together, from recorded activations, and their
comparison with the weight-graph modules."""
