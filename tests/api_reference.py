#!/usr/bin/python3
"""Build the HTML API reference (the `docs` target's Doxygen run, into a
scratch directory) and check it: Doxygen says nothing about the headers,
and every function and type the public headers declare is documented in
one of the sections (a group page), so nothing falls out of the manual.
(The Markdown documents are pages of the reference too; Doxygen does not
know GitHub's heading anchors or links to documents other branches are
writing, so what it says about them is not checked here: tests/
doc_blocks.py checks their code.)

usage: api_reference.py DOXYFILE INCLUDE_DIR SCRATCH_DIR
Exits 77 (skipped) without doxygen."""
import glob
import html
import os
import re
import shutil
import subprocess
import sys


def main():
    doxyfile, include, out = sys.argv[1:4]
    doxygen = shutil.which("doxygen")
    if not doxygen:
        print("SKIPPED: no doxygen (apt-get install doxygen)")
        return 77
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    config = open(doxyfile).read() + "\nOUTPUT_DIRECTORY = %s\n" \
        "WARN_LOGFILE = %s/warnings.log\n" % (out, out)
    r = subprocess.run([doxygen, "-"], input=config, text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    warnings = "\n".join(
        w for w in open(os.path.join(out, "warnings.log")).read().split("\n")
        if "/include/" in w)
    if r.returncode != 0 or warnings:
        print("doxygen failed or warned:\n%s\n%s" % (r.stdout, warnings))
        return 1
    pages = ""
    for p in glob.glob(os.path.join(out, "html", "group__*.html")):
        pages += html.unescape(re.sub(r"<[^>]+>", " ", open(p).read()))
    names = set()
    for h in glob.glob(os.path.join(include, "**", "*.h"), recursive=True):
        src = open(h).read()
        names |= set(re.findall(r"CIO_API\s[^;(]*?\b(cio_\w+)\s*\(", src))
        names |= set(re.findall(r"typedef struct \w+ (cio_\w+);", src))
    missing = sorted(n for n in names if not re.search(r"\b%s\b" % n, pages))
    print("%d public names, %d group pages" %
          (len(names), len(glob.glob(os.path.join(out, "html", "group__*")))))
    if missing:
        print("not in any section of the reference:", " ".join(missing))
        return 1
    print("reference: %s/html/index.html" % out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
