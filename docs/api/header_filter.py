#!/usr/bin/python3
"""Doxygen input filter: reads casyncio's headers, which are written to be
read as they are, with plain /* */ comments, and gives Doxygen the same
text with its markers.  The header stays the manual; nothing in it is
written for Doxygen.

  /* ----------                     a section: a group (module page) whose
   * Title                           description is the rest of the banner
   * ---------- */                   and the comments after it
  /* -- Name: text */               a member group inside the section
  /* text */ directly above code    that declaration's documentation
  /* text */ followed by a blank    more description of the section (moved
                                    to the section's description)
  a header without banners          one section, titled by its first line

In comments, a run of lines indented by three spaces after a blank comment
line is code (\\code), and backslashes, @ and <, which Doxygen would read
as commands or HTML, are escaped.
"""
import re
import sys


def slug(title, seen):
    s = re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")[:40] or "section"
    base, n = s, 2
    while s in seen:
        s, n = "%s_%d" % (base, n), n + 1
    seen.add(s)
    return s


def escape(text):
    return (text.replace("\\", "\\\\").replace("@", "\\@")
            .replace("<", "\\<"))


def body_lines(comment):
    """The text lines of a /* */ comment, without the markers."""
    lines = comment.split("\n")
    out = []
    for i, l in enumerate(lines):
        if i == 0:
            l = re.sub(r"^\s*/\*\s*", "", l)
        l = re.sub(r"\*/\s*$", "", l)
        if i > 0:
            l = re.sub(r"^\s*\* ?", "", l, count=1)
        out.append(l.rstrip())
    while out and not out[0].strip():
        out.pop(0)
    while out and not out[-1].strip():
        out.pop()
    return out


def render(lines):
    """Comment text as Doxygen text: code runs in \\code, the rest escaped."""
    out, in_code, prev_blank = [], False, True
    for l in lines:
        indented = l.startswith("  ") and l.strip()
        if in_code and not indented and l.strip():
            out.append("\\endcode")
            in_code = False
        if not in_code and indented and prev_blank:
            out.append("\\code{.c}")
            in_code = True
        out.append(l if in_code else escape(l))
        prev_blank = not l.strip()
    if in_code:
        while out and not out[-1].strip():
            out.pop()
        out.append("\\endcode")
    return out


def doc(lines, head=None):
    text = ([head] if head else []) + render(lines)
    return "/**\n" + "\n".join(" * " + l if l else " *" for l in text) + "\n */"


def expand_error_table(src):
    """The error enum is made from an X-macro table; write it out, one
    documented enumerator per code, so the reference lists every code with
    its text and the asyncio exception it stands for."""
    rows = re.findall(r'X\((\w+), (\(?-?\w+\)?), "([^"]*)"\)'
                      r'[ \t]*(?:/\* *(.*?) *\*/)?', src)
    if not rows:
        return src
    lines = []
    for name, value, text, exc in rows:
        note = text + (" (asyncio: %s)" % exc if exc else "")
        lines.append("  CIO_%s = %s, /**< %s */" % (name, value,
                                                   escape(note)))
    return re.sub(r"(?m)^#define CIO__ERRNO_ENUM.*\n\s*CIO_ERRNO_MAP\("
                  r"CIO__ERRNO_ENUM\)\n#undef CIO__ERRNO_ENUM",
                  lambda m: "\n".join(lines), src)


def main():
    src = expand_error_table(open(sys.argv[1], encoding="utf-8").read())
    # Split into comments at the start of a line and the code between.
    parts = re.split(r"(?m)(^/\*.*?\*/)", src, flags=re.S)
    out, seen, descs = [], set(), {}
    has_banner = re.search(r"(?m)^/\* -{8,}", src) is not None
    group = member = None
    for i, part in enumerate(parts):
        if i % 2 == 0:
            out.append(part)
            continue
        after = parts[i + 1] if i + 1 < len(parts) else ""
        standalone = after.startswith("\n\n") or not after.strip()
        lines = body_lines(part)
        closers = ""
        if part.startswith("/* ----"):
            text = [l for l in lines if not re.match(r"^-+$", l.strip())]
            if not text:
                out.append(part)
                continue
            # The title runs to the first blank line.
            k = text.index("") if "" in text else len(text)
            text = [" ".join(t.strip() for t in text[:k])] + text[k:]
            closers = ("/** @} */\n" if member else "") + \
                      ("/** @} */\n" if group else "")
            member = None
            group = slug(text[0], seen)
            # The description grows with the section's loose comments, so
            # it is written at the end.
            descs[group] = text[1:]
            out.append((closers, group, text[0].strip(" .")))
        elif re.match(r"^\(section: \w+\)$", " ".join(lines)):
            out.append("")
        elif lines and lines[0].startswith("-- ") and standalone:
            name = re.split(r"[:.(]", lines[0][3:], maxsplit=1)[0].strip()
            rest = [lines[0][3:]] + lines[1:]
            closers = "/** @} */\n" if member else ""
            member = name
            out.append(closers + doc(rest, "@name " + escape(name)) +
                       "\n/** @{ */")
        elif i == 1 and not parts[0].strip() and not has_banner:
            # A header without sections is one section, titled by its
            # first line ("casyncio TLS: streams over TLS...").
            group = slug(lines[0], seen)
            descs[group] = lines[1:]
            out.append(("", group, lines[0].strip(" .")))
        elif i == 1 and not parts[0].strip():
            out.append(doc(lines, "@file"))
        elif standalone and group:
            descs[group] += [""] + lines
            out.append("")
        elif standalone:
            out.append(doc(lines, "@file"))
        else:
            out.append(doc(lines))
    text = "".join(
        p if isinstance(p, str) else
        p[0] + doc(descs[p[1]], "@defgroup %s %s" % (p[1], escape(p[2]))) +
        "\n/** @{ */" for p in out)
    # Close what is open before the header's include guard ends.
    closers = ("/** @} */\n" if member else "") + \
              ("/** @} */\n" if group else "")
    k = text.rfind("#ifdef __cplusplus\n}")
    if k < 0:
        k = text.rfind("#endif")
    text = text[:k] + closers + text[k:]
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
