"""python -m bench, which handoffs bench runs: the benchmark suite (bench/runner.py)."""

import sys

from bench.runner import main

sys.exit(main())
