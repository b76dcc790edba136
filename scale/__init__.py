"""Beyond one machine: Triton model repositories (and the Ray archive job, where present)."""
