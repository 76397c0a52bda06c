"""``python -m adflow.fuzz``: the command line (:mod:`adflow.fuzz.cli`)."""
from .cli import main

raise SystemExit(main())
