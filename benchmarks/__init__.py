"""adflow's benchmark suite: ``python -m benchmarks --help``.

One module per problem under :mod:`benchmarks.problems`; :mod:`benchmarks.timing` holds the
paired, alternating timer; :mod:`benchmarks.runner` checks and times one problem;
:mod:`benchmarks.report` prints tables and writes ``results/latest.json`` and ``latest.png``.
"""
