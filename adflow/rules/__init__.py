"""Derivative rules as data.

* :mod:`adflow.rules.primitives` names every differentiable operation adflow knows (``"sin"``,
  ``"mul"``, ``"dot"``...) and maps Python objects (``math.sin``, ``np.sin``, ``*``) to those names.
* :mod:`adflow.rules.partials` holds the partial derivatives of elementwise primitives; both
  modes read them, so an elementwise formula is written once.
* :mod:`adflow.rules.adjoints` is the table of adjoint (reverse-mode) rules.
* :mod:`adflow.rules.tangents` is the table of tangent (forward-mode) rules.
* :mod:`adflow.rules.custom` lets users add rules for their own functions.
"""
