"""Analysis: grid vs particles comparison and its report, statistics, exact solutions, plots."""
