"""The torch reader: torch.fx tracing, the routing table of accepted ops, and the autograd
check of the traced graph against the model. Needs the ``torch`` extra."""
