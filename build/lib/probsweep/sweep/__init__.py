"""Stage 4, sweep: the search space as config, the Keras Tuner oracle and tuner, and one function that runs a sweep."""
