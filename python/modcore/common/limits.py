"""Upper bounds of counts that public functions take, importable without torch, so that
the command line's argument types refuse what the functions would, before any loading."""

__all__ = ["MAX_RANDOM_LESIONS"]

# Most random lesions per sub-module: each is a forward pass over the test set,
# and their draws are an (n, layer width) array.
MAX_RANDOM_LESIONS = 100_000
