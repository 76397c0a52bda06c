"""What the fuzzer knows adflow gets wrong or refuses: the constructs generated programs avoid by
default, and the refusals on purpose that are an outcome, not a finding."""

# Constructs that trigger a known adflow defect, each pinned by a strict-xfail test in
# tests/test_regressions.py.  The CI fuzz test avoids them (so that it keeps looking for *new*
# defects); a second test and the campaign's ``--all`` include them.  Remove an entry when its
# defect is fixed.
KNOWN_DEFECTS: dict = {  # name -> what goes wrong (the test in tests/test_regressions.py that pins it)
    "array made from a value that carries tangents only later": (
        "a Hessian (hvp) of c = np.ones(n) * a, where a carries tangents only after a later swap, and "
        "c[i] += <a value of x>: c stays a float array and numba refuses to store a dual in it (fuzz seed "
        "27000104; test_regressions.py::test_hessian_of_an_array_made_before_its_operand_carries_tangents)"),
    "argument rebound by np.asarray, then written in place": (
        "a WRONG Hessian (hvp): x = np.asarray(x); x[0] = 0.5 * x[0] doubles the Hessian (fuzz seed "
        "2363189735, CI; test_regressions.py::test_hessian_after_an_argument_rebound_by_asarray_is_written)"),
}

# Valid Python that adflow refuses on purpose, each pinned by a test in tests/test_regressions.py.
# Such an error naming the program's file and line is a "loud" outcome, not a finding.
REFUSALS = {
    "loop over an array the body rebinds and writes into": r"a for loop over '\w+' that both rebinds",
}

# A seed whose program (drawn with nothing avoided) reaches each known defect: the fuzzer finds it there.
DEFECT_SEEDS: dict = {
    "array made from a value that carries tangents only later": 27000104,
}

# Text of the forms that reach a known defect (KNOWN_DEFECTS), by the defect's name.
DEFECT_FORMS: dict = {
    "array made from a value that carries tangents only later": ("np.ones(n) * a",),
    "argument rebound by np.asarray, then written in place": ("x = np.asarray(x)",),
}
