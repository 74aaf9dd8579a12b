"""``--preset kubewarden``: host calls answered as a Kubewarden policy server answers them."""
