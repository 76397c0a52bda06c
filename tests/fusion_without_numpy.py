"""A function that never names NumPy, in a module that does not import it: fusion's loops fill
arrays from np.empty all the same (tests/test_fusion.py)."""


def end_slopes(u):
    d = u[1:] - u[:-1]
    e = d * d + d  # a chain making an array: a loop filling one from np.empty
    return e[0] + 2.0 * e[-1]
