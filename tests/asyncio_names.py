#!/usr/bin/python3
"""Check that docs/asyncio-to-casyncio.md names every public name of the
asyncio it runs with: asyncio.__all__, and the public methods and
attributes of the event loop (AbstractEventLoop), StreamReader,
StreamWriter, Server, Task, Future and asyncio.subprocess.Process.  A
name counts when it appears as a word inside `code` in the document (a
row that maps it, or says why casyncio has no counterpart).

usage: asyncio_names.py docs/asyncio-to-casyncio.md
"""
import asyncio
import asyncio.subprocess
import re
import sys


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        doc = f.read()
    code = " ".join(re.findall(r"`([^`\n]*)`", doc))
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", code))
    wanted = {"asyncio": asyncio.__all__}
    for owner, cls in (("loop", asyncio.AbstractEventLoop),
                       ("StreamReader", asyncio.StreamReader),
                       ("StreamWriter", asyncio.StreamWriter),
                       ("Server", asyncio.Server),
                       ("Task", asyncio.Task),
                       ("Future", asyncio.Future),
                       ("Process", asyncio.subprocess.Process)):
        wanted[owner] = dir(cls)
    missing = []
    for owner, names in wanted.items():
        for name in names:
            if not name.startswith("_") and name not in words:
                missing.append(f"{owner}.{name}")
    if missing:
        print(f"{sys.argv[1]} does not name (Python {sys.version.split()[0]}):",
              file=sys.stderr)
        for m in sorted(set(missing)):
            print(f"  {m}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
