"""The method on a network: spectral clustering, the n-cut and modularity scores, the
shuffle-null significance (here or on a dask cluster), choosing k, stability across seeds,
partition comparison and multiple testing."""
