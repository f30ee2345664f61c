#!/usr/bin/env python3
"""Checks the structure of ribo's sources; exits 1 naming every violation.

1. No include cycle among project files (quoted includes, resolved against the including file's folder,
   then the project root, then include/).
2. No cycle between folders (engine/base, engine/io, ..., models, backends/cuda, ...), and no include that
   runs up the layer order below (a lower layer never includes a higher one).
3. No two translation units that call each other's external functions (a "circle" of units: the shared
   part belongs in a third file below both).

Run from anywhere: python3 scripts/check_includes.py [--print]  (--print lists the folder graph).
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE_DIRS = ["engine", "models", "backends", "cli", "include"]
EXTS = (".c", ".h", ".cu", ".cuh")

# Layer of each folder: a file may include only files of its own layer or lower. The engine root
# (backend.h, backend_registry.c) is the backend contract: backends and the registry sit on it.
LAYERS = {
    "include/ribo": 0,
    "engine/base": 1,
    "engine/io": 2, "engine/tokenize": 2, "engine": 2,
    "engine/input": 3, "engine/graph": 3,
    "backends/cuda": 4, "backends/cuda/vendor": 3, "backends/opencl": 4,
    # the HIP backend's own files sit on the shared CUDA sources (hip_gemm.cu includes cuda_internal.h)
    "backends/hip": 4,
    "models": 4,
    "engine/store": 4,
    "engine/run": 5,
    "engine/api": 6,
    "cli": 7,
}

INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def project_files():
    out = []
    for top in SOURCE_DIRS:
        for dirpath, _, names in os.walk(os.path.join(ROOT, top)):
            for n in names:
                if n.endswith(EXTS):
                    out.append(os.path.relpath(os.path.join(dirpath, n), ROOT))
    return sorted(out)


def resolve(src, target, files):
    for base in (os.path.dirname(src), "", "include"):
        cand = os.path.normpath(os.path.join(base, target))
        if cand in files:
            return cand
    return None


def find_cycles(graph):
    """Strongly connected components with more than one node (Tarjan), each as a sorted list."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph.get(v, ()):
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    return re.sub(r'"(\\.|[^"\\\n])*"', '""', text)


DEF_RE = re.compile(r"^(?!static\b)(?:extern \"C\" )?[A-Za-z_][\w \*]*?\b(ribo_\w+)\s*\([^;{]*\)\s*\{", re.M)
TABLE_RE = re.compile(r"^(?:extern \"C\" )?const\s+\w+\s+(ribo_\w+)\s*=", re.M)
USE_RE = re.compile(r"\b(ribo_\w+)\b")


def main():
    files = project_files()
    fileset = set(files)
    problems = []

    # 1. file include graph
    inc = {}
    for f in files:
        text = open(os.path.join(ROOT, f), encoding="utf-8", errors="replace").read()
        inc[f] = set()
        for t in INCLUDE_RE.findall(text):
            r = resolve(f, t, fileset)
            if r:
                inc[f].add(r)
    for comp in find_cycles(inc):
        problems.append("include cycle: " + " -> ".join(comp))

    # 2. folder graph and layers
    def folder(f):
        return os.path.dirname(f)

    fgraph = {}
    for f, targets in inc.items():
        for t in targets:
            a, b = folder(f), folder(t)
            if a == b:
                continue
            fgraph.setdefault(a, set()).add(b)
            la, lb = LAYERS.get(a), LAYERS.get(b)
            if la is None:
                problems.append(f"{f}: folder '{a}' has no layer in scripts/check_includes.py")
            elif lb is None:
                problems.append(f"{t}: folder '{b}' has no layer in scripts/check_includes.py")
            elif lb > la:
                problems.append(f"upward include: {f} (layer {la}) includes {t} (layer {lb})")
    for comp in find_cycles(fgraph):
        problems.append("folder cycle: " + " <-> ".join(comp))

    # 3. translation units calling each other
    units = [f for f in files if f.endswith((".c", ".cu"))]
    defined_in = {}
    uses = {}
    for u in units:
        text = strip_comments(open(os.path.join(ROOT, u), encoding="utf-8", errors="replace").read())
        defs = set(DEF_RE.findall(text)) | set(TABLE_RE.findall(text))
        for d in defs:
            defined_in.setdefault(d, u)
        uses[u] = set(USE_RE.findall(text)) - defs
    ugraph = {u: {defined_in[s] for s in uses[u] if s in defined_in and defined_in[s] != u} for u in units}
    for comp in find_cycles(ugraph):
        ties = []
        for a in comp:
            for b in comp:
                if a != b:
                    names = sorted(s for s in uses[a] if defined_in.get(s) == b)
                    if names:
                        ties.append(f"{a} uses {', '.join(names[:4])} from {b}")
        problems.append("units calling each other: " + "; ".join(ties))

    if "--print" in sys.argv:
        for a in sorted(fgraph, key=lambda x: (-LAYERS.get(x, 99), x)):
            print(f"{a} (layer {LAYERS.get(a)}) -> {', '.join(sorted(fgraph[a]))}")
    if problems:
        for p in problems:
            print("check_includes: " + p, file=sys.stderr)
        return 1
    print(f"check_includes: {len(files)} files, {len(fgraph)} folders with includes, "
          f"{sum(len(v) for v in fgraph.values())} folder arrows: no cycle, no upward include")
    return 0


if __name__ == "__main__":
    sys.exit(main())
