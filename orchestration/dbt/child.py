"""`newsimpact-dbt`: the dbt CLI, killed by the kernel when the process that started it dies.

dagster-dbt runs dbt as a child process. If the run is killed (`kill -9`, OOM), an orphaned dbt
would keep writing the work file and hold its lock, so the next run could not start.
`PR_SET_PDEATHSIG` survives the `exec` into dbt.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from pathlib import Path

PR_SET_PDEATHSIG = 1


def main() -> None:
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    dbt = Path(sys.executable).parent / "dbt"
    os.execv(dbt, [str(dbt), *sys.argv[1:]])
