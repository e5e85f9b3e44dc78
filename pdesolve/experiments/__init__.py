"""Experiments outside the grid model: the student–teacher ReLU networks of the seed §7.2."""
