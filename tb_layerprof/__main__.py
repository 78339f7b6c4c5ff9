"""`python -m tb_layerprof ...` is the `tb-layerprof` command."""

import sys

from tb_layerprof.cli import main

if __name__ == "__main__":
    sys.exit(main())
