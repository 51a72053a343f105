"""Reports: the HTML report, the run index, JUnit XML."""
