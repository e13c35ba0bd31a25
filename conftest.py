"""nbval runs every notebook on the smoke preset, in a temporary folder.

The notebooks read these variables through `derain_utils.course.chapters.open_chapter` and
`derain_utils.course.viewer`;
they are set before pytest starts any kernel, so the kernels inherit them.
"""

import os
import shutil
import tempfile

from derain_utils.course.chapters import OUTPUT_ENV, PROFILE_ENV
from derain_utils.course.viewer import STATIC_ENV

_OUTPUT = tempfile.mkdtemp(prefix="derain-nbval-")


def pytest_configure(config):
    os.environ[PROFILE_ENV] = "smoke"
    os.environ[OUTPUT_ENV] = _OUTPUT
    os.environ[STATIC_ENV] = "1"  # no one moves a slider here: viewers draw static sheets


def pytest_unconfigure(config):
    shutil.rmtree(_OUTPUT, ignore_errors=True)
