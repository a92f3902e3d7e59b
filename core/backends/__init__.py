"""Where requests are computed: a backend per way of running a model."""
