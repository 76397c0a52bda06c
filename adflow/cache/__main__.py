"""``python -m adflow.cache [info | clear]``: show or clear adflow's disk cache."""
from . import main

raise SystemExit(main())
