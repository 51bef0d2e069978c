#!/usr/bin/env python3
"""The dependency rule of architecture.md as a test: every #include in a module must be one
of the modules or libraries it may use, and core/ must stay pure (no I/O, no allocation, no
clock). Usage: check_deps.py SOURCE_ROOT. Prints each violation; exits 1 if any."""
import os
import re
import sys

# module folder -> (project folders it may include, system header prefixes it must not)
NET = ("uv.h", "curl/", "openssl/", "sqlite3.h", "json-c/", "winscard.h", "PCSC/",
       "http_parser.h", "pthread.h")
RULES = {
    "core": ({"core"}, NET),
    "drivers": ({"core", "drivers"}, ("curl/", "openssl/", "sqlite3.h", "json-c/", "http_parser.h")),
    "cache": ({"core", "cache"}, ("uv.h", "curl/", "openssl/", "json-c/", "winscard.h", "PCSC/",
                                  "http_parser.h")),
    "interface/json": ({"core", "interface/json"}, ("uv.h", "curl/", "sqlite3.h", "PCSC/", "winscard.h")),
    "interface/http": ({"core", "interface/http"}, ("curl/", "sqlite3.h", "PCSC/", "winscard.h", "json-c/")),
    "interface/platform": ({"core", "interface/json", "interface/platform"}, ("sqlite3.h", "PCSC/",
                                                                             "winscard.h")),
    "interface/his": ({"core", "interface/json", "interface/http", "interface/his"},
                      ("sqlite3.h", "PCSC/", "winscard.h", "curl/")),
    "interface/ctl": ({"core", "interface/json", "interface/ctl"}, ("sqlite3.h", "PCSC/", "winscard.h")),
    "sandbox": ({"core", "interface/json", "interface/http", "interface/platform", "sandbox"},
                ("PCSC/", "winscard.h", "curl/")),
    "agent": ({"core", "drivers", "cache", "interface/json", "interface/http", "interface/platform",
               "interface/his", "agent"}, ()),
}
# Single headers a module may include from a module otherwise not below it: cache's WAL VFS
# is plain SQLite plumbing with no posad in it, and the sandbox's ledger writes through it too
# (it links that library alone, posa_wal_gather, so nothing else of cache/ would link).
EXTRA_HEADERS = {"sandbox": {"cache/wal_gather.h"}}
# core/ allocates nothing, does no I/O and reads no clock.
CORE_FORBIDDEN = re.compile(r"\b(malloc|calloc|realloc|free|printf|fprintf|puts|fopen|open|read|write|"
                            r"time|clock_gettime|gettimeofday|getenv|rand|srand|sleep)\s*\(")
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


def module_of(rel):
    for m in sorted(RULES, key=len, reverse=True):
        if rel == m or rel.startswith(m + "/"):
            return m
    return None


def check_file(root, rel, module, problems):
    allowed, forbidden = RULES[module]
    text = open(os.path.join(root, rel), encoding="utf-8", errors="replace").read()
    for kind, header in INCLUDE.findall(text):
        if kind == '"':
            target = module_of(header.rsplit("/", 1)[0]) if "/" in header else module
            if target not in allowed and header not in EXTRA_HEADERS.get(module, ()):
                problems.append(f"{rel}: includes \"{header}\" ({target or 'unknown'} is not below {module})")
        elif any(header.startswith(f) for f in forbidden):
            problems.append(f"{rel}: includes <{header}>, a library {module}/ may not use")
    if module == "core":
        code = re.sub(r"/\*.*?\*/|//[^\n]*|\"(\\.|[^\"\\])*\"", "", text, flags=re.S)
        for m in CORE_FORBIDDEN.finditer(code):
            problems.append(f"{rel}: calls {m.group(1)}(), but core/ is pure")


def main():
    root = sys.argv[1]
    problems, count = [], 0
    for module in RULES:
        base = os.path.join(root, module)
        for dirpath, _, files in os.walk(base):
            for f in files:
                rel = os.path.relpath(os.path.join(dirpath, f), root)
                if f.endswith((".c", ".h")) and module_of(rel) == module:
                    check_file(root, rel, module, problems)
                    count += 1
    for p in problems:
        print(p)
    print(f"check_deps: {count} files, {len(problems)} violations")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
