"""A local SMTP server for `make run`: every outgoing email is saved under var/mail/ and summarized.

Nothing leaves the machine. Production uses a real mail server (EMAIL_HOST and friends).
"""

import argparse
import os
import time
from email import message_from_bytes, policy
from pathlib import Path

from aiosmtpd.controller import Controller

MAIL_DIR = Path(os.environ.get("HELPDESK_VAR_DIR") or Path(__file__).resolve().parent.parent / "var") / "mail"


class SaveToFolder:
    async def handle_DATA(self, server, session, envelope):
        MAIL_DIR.mkdir(parents=True, exist_ok=True)
        path = MAIL_DIR / f"{time.strftime('%Y%m%d-%H%M%S')}-{time.monotonic_ns()}.eml"
        path.write_bytes(envelope.content)
        subject = message_from_bytes(envelope.content, policy=policy.default)["Subject"]
        print(f"[mail] to {', '.join(envelope.rcpt_tos)}: {subject}  ({path.name})", flush=True)
        return "250 Message accepted"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=1025)
    options = parser.parse_args()
    controller = Controller(SaveToFolder(), hostname="127.0.0.1", port=options.port)
    controller.start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
