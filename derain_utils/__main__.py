"""`python -m derain_utils ...` is the `derain` command; torchrun starts it that way:
`torchrun --nproc_per_node 2 -m derain_utils train ...`."""

import sys

from .cli import main

sys.exit(main())
