#!/usr/bin/python3
"""Compile and run the C code blocks of Markdown files (README.md, docs/).

The rule for writers (docs/README.md repeats it):

  ```c             a whole program: compiled with warnings as errors
                   (-std=c11 -Wall -Wextra -Wpedantic ... -Werror), linked
                   with casyncio, run; it must exit with status 0 within
                   60 s and write nothing on stderr.
  ```c no-run      a whole program that is compiled and linked but not run
                   (it serves until stopped, or needs a server).
  ```c fragment    declarations or functions shown on their own: compiled
                   (not linked) at file scope after #include "casyncio.h"
                   and the common C headers, warnings as errors except
                   unused functions and variables.
  ```c fragment test
                   a fragment of a test case (docs/testing.md): the prelude
                   also includes tests/test.h.
  ```output        right after a ```c program (blank lines between allowed):
                   what it prints on stdout, line by line; {*} in a line
                   matches any text (times, addresses).

Other blocks (```sh, ```python, ```text...) are not compiled.  A block
that includes a battery's header (casyncio/tls.h...) is only compiled when
the build has that battery (casyncio/config.h).

usage: doc_blocks.py --cc CC --include DIR... --lib LIBCASYNCIO.so
                     --config CONFIG_H FILE.md...
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

WARNINGS = [
    "-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Wshadow",
    "-Wstrict-prototypes", "-Wmissing-prototypes", "-Werror",
]
FRAGMENT_PRELUDE = """#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "casyncio.h"
#line %d "%s"
"""
RUN_TIMEOUT = 60


class Block:
    def __init__(self, path, line, kind, code):
        self.path, self.line, self.kind, self.code = path, line, kind, code
        self.output = None  # expected stdout lines, or None

    def where(self):  # the line of the opening ```
        return "%s:%d" % (self.path, self.line)


def parse(path):
    """The ```c blocks of `path`, with the ```output block after each."""
    blocks, lines = [], open(path, encoding="utf-8").read().split("\n")
    i = 0
    last_program = None
    while i < len(lines):
        m = re.match(r"^```(\S*)\s*(.*)$", lines[i])
        if not m:
            if lines[i].strip():
                last_program = None
            i += 1
            continue
        lang, tags = m.group(1), m.group(2).split()
        start = i + 1
        i += 1
        while i < len(lines) and not lines[i].startswith("```"):
            i += 1
        body = lines[start:i]
        i += 1
        if lang == "c":
            kind = "program"
            if tags == ["fragment", "test"]:
                kind = "test"
            elif tags in (["no-run"], ["fragment"]):
                kind = tags[0]
            elif tags:
                raise SystemExit("%s:%d: unknown tags %r (use no-run, "
                                 "fragment or fragment test)" % (path, start,
                                                                 tags))
            b = Block(path, start, kind, "\n".join(body) + "\n")
            blocks.append(b)
            last_program = b if kind == "program" else None
        elif lang == "output":
            if last_program is None:
                raise SystemExit("%s:%d: an ```output block must follow a "
                                 "```c program" % (path, start))
            last_program.output = body
            last_program = None
        else:
            last_program = None
    return blocks


def battery_headers(config_h):
    """Headers (casyncio/x.h) of the batteries this build has or lacks."""
    have, lack = set(), set()
    for line in open(config_h, encoding="utf-8"):
        m = re.match(r"#define CIO_HAVE_\w+ (\d)\s*/\* <(casyncio/[\w.]+)>",
                     line)
        if m:
            (have if m.group(1) == "1" else lack).add(m.group(2))
    return have, lack - have


def missing_battery(block, lack):
    for h in re.findall(r'#include\s*[<"](casyncio/[\w.]+)[>"]', block.code):
        if h in lack:
            return h
    return None


def line_matches(pattern, text):
    parts = [re.escape(p) for p in pattern.split("{*}")]
    return re.fullmatch(".*".join(parts), text) is not None


def compile_block(b, n, tmp, args):
    src = os.path.join(tmp, "block%d.c" % n)
    exe = os.path.join(tmp, "block%d" % n)
    inc = ["-I" + d for d in args.include]
    with open(src, "w", encoding="utf-8") as f:
        if b.kind == "test":
            f.write('#include "test.h"\n')
        if b.kind in ("fragment", "test"):
            f.write(FRAGMENT_PRELUDE % (b.line + 1, b.path))
        else:
            f.write('#line %d "%s"\n' % (b.line + 1, b.path))
        f.write(b.code)
    if b.kind in ("fragment", "test"):
        if b.kind == "test":
            inc += ["-I" + os.path.join(args.source, d) for d in ("tests", "src")]
        cmd = [args.cc] + WARNINGS + ["-Wno-unused-function",
                                      "-Wno-unused-variable"] + inc + [
            "-c", src, "-o", exe + ".o"]
    else:
        libdir = os.path.dirname(os.path.abspath(args.lib))
        cmd = [args.cc] + WARNINGS + inc + [src, args.lib, "-lm",
                                            "-Wl,-rpath," + libdir,
                                            "-o", exe]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    if r.returncode != 0:
        return None, "does not compile:\n" + r.stdout
    return exe, None


def check_output(b, stdout):
    got = stdout.split("\n")
    if got and got[-1] == "":
        got.pop()
    want = b.output
    for k in range(max(len(got), len(want))):
        g = got[k] if k < len(got) else "<no line>"
        w = want[k] if k < len(want) else "<no line>"
        if k >= len(got) or k >= len(want) or not line_matches(w, g):
            return ("prints something else than its ```output block; "
                    "line %d:\n  got:  %s\n  want: %s\nwhole output:\n%s"
                    % (k + 1, g, w, stdout))
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cc", required=True)
    ap.add_argument("--include", action="append", default=[])
    ap.add_argument("--lib", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--source", default=".")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()

    have, lack = battery_headers(args.config)
    failures, compiled, skipped = [], 0, []
    with tempfile.TemporaryDirectory(prefix="cio-doc-") as tmp:
        running = []
        n = 0
        for path in args.files:
            for b in parse(path):
                n += 1
                h = missing_battery(b, lack)
                if h:
                    skipped.append("%s (this build has no %s)" % (b.where(), h))
                    continue
                exe, err = compile_block(b, n, tmp, args)
                compiled += 1
                if err:
                    failures.append((b, err))
                elif b.kind == "program":
                    # Programs mostly wait: run them all at once.
                    p = subprocess.Popen([exe], cwd=tmp, text=True,
                                         stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE)
                    running.append((b, p))
        for b, p in running:
            try:
                out, err = p.communicate(timeout=RUN_TIMEOUT)
            except subprocess.TimeoutExpired:
                p.kill()
                out, err = p.communicate()
                failures.append((b, "still running after %d s" % RUN_TIMEOUT))
                continue
            if p.returncode != 0:
                failures.append((b, "exits with status %d\nstdout:\n%s"
                                 "stderr:\n%s" % (p.returncode, out, err)))
            elif err:
                failures.append((b, "writes on stderr:\n" + err))
            elif b.output is not None:
                msg = check_output(b, out)
                if msg:
                    failures.append((b, msg))
    for s in skipped:
        print("skipped", s)
    print("%d C blocks compiled, %d run, %d skipped" %
          (compiled, len(running), len(skipped)))
    for b, msg in failures:
        print("FAIL %s (```c %s): %s" % (b.where(), b.kind, msg))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
