"""Reference models, one readable file per family. Notebooks build each idea step by step; these
files hold the finished version that later notebooks, the comparison notebook and the checks reuse."""
