"""Where the real-world email corpus is: ../shared/testdata/email beside the checkout (see its README).

A checkout elsewhere (a CI clone in another folder) finds it through HELPDESK_SHARED_DIR, or in the
workplace's shared folder /work/shared. The tests that use it fail, not skip, when it is missing.
"""

import os
from pathlib import Path

_CANDIDATES = [
    Path(os.environ["HELPDESK_SHARED_DIR"]) if os.environ.get("HELPDESK_SHARED_DIR") else None,
    Path(__file__).resolve().parents[2] / "shared",
    Path("/work/shared"),
]


def shared_dir() -> Path:
    for candidate in _CANDIDATES:
        if candidate is not None and (candidate / "testdata" / "email").is_dir():
            return candidate
    return Path(__file__).resolve().parents[2] / "shared"  # missing: the tests say so


EMAIL_CORPUS = shared_dir() / "testdata" / "email"
