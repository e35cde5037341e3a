"""Code that runs inside jobs: the local supervisor and the MPI rank environment."""
