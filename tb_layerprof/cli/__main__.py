"""`python -m tb_layerprof.cli ...` is the `tb-layerprof` command too."""

import sys

from tb_layerprof.cli import main

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
