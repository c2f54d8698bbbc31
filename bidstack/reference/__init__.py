"""Plain, slow references that the kernels are tested and benchmarked against."""
