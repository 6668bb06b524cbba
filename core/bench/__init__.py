"""Performance harness: one place that times genseg and its peers on the same inputs."""
