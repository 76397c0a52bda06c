"""What the fuzzer knows adflow gets wrong or refuses: the constructs generated programs avoid by
default, and the refusals on purpose that are an outcome, not a finding."""

# Constructs that trigger a known adflow defect, each pinned by a strict-xfail test in
# tests/test_regressions.py.  The CI fuzz test avoids them (so that it keeps looking for *new*
# defects); a second test and the campaign's ``--all`` include them.  Remove an entry when its
# defect is fixed.
KNOWN_DEFECTS: dict = {  # name -> what goes wrong (the test in tests/test_regressions.py that pins it)
}

# Valid Python that adflow refuses on purpose, each pinned by a test in tests/test_regressions.py.
# Such an error naming the program's file and line is a "loud" outcome, not a finding.
REFUSALS = {
    "loop over an array the body rebinds and writes into": r"a for loop over '\w+' that both rebinds",
    # docs/subset.md: a write into memory an argument (or a variable read later) holds, through a view
    # (M, P = P, M.T; P[1, 1] = ...: fuzz seed 29100219)
    "write into memory another array holds": r"in-place write into '\w+', which shares memory with",
}

# A seed whose program (drawn with nothing avoided) reaches each known defect: the fuzzer finds it there.
DEFECT_SEEDS: dict = {
}

# Text of the forms that reach a known defect (KNOWN_DEFECTS), by the defect's name.
DEFECT_FORMS: dict = {
}
