#!/usr/bin/env python3
"""same_db.py - whether two finscope databases hold the same analysis, table by table, row by row.

    same_db.py A.db B.db

The proof a refactor changed nothing: analyze the same captures with the old build and the new
one, then compare.  Every table and view present in either database is compared row by row,
every column (a table or column missing on one side is a difference).  Ids are compared by
what they name, not by their value: a capture id becomes its source (and its place among
captures of that source), a flow id becomes (capture, first_packet, client and server address
and port, first_ts).  Rows are compared in a canonical order, so the order SQLite returns them
in does not matter.  captures.analyzed_at and captures.finscope_version always differ: skipped.

Exit 0 when the same; 1 with the first difference on stderr; 2 on a usage or open error.
"""

import sqlite3
import sys

IGNORED = {("captures", "analyzed_at"), ("captures", "finscope_version")}
FLOW_KEY = ["first_packet", "client_addr", "client_port", "server_addr", "server_port", "first_ts"]


def sort_key(row):
    """Rows hold None, numbers and text: None first, then numbers, then text."""
    out = []
    for v in row:
        if v is None:
            out.append((0, 0))
        elif isinstance(v, (int, float)):
            out.append((1, v))
        elif isinstance(v, bytes):
            out.append((3, v.hex()))
        else:
            out.append((2, v))
    return out


class Db:
    def __init__(self, path):
        self.path = path
        self.con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        self.objects = {
            name: kind
            for name, kind in self.con.execute(
                "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') "
                "AND name NOT LIKE 'sqlite_%'"
            )
        }
        self.capture = self._captures()
        self.flow = self._flows()

    def columns(self, name):
        return [r[1] for r in self.con.execute(f'PRAGMA table_xinfo("{name}")')]

    def _captures(self):
        """capture id -> (source, n-th capture of that source)."""
        if "captures" not in self.objects:
            return {}
        seen, out = {}, {}
        for cid, src in self.con.execute("SELECT id, source FROM captures ORDER BY id"):
            seen[src] = seen.get(src, 0) + 1
            out[cid] = (src, seen[src])
        return out

    def _flows(self):
        """flow id -> what names the flow, whatever id it was given."""
        if "flows" not in self.objects:
            return {}
        cols = ", ".join(FLOW_KEY)
        out = {}
        for row in self.con.execute(f"SELECT id, capture_id, {cols} FROM flows"):
            out[row[0]] = (self.capture.get(row[1], ("?", row[1])),) + tuple(row[2:])
        return out

    def rows(self, name, cols):
        """The rows of name, ids replaced by what they name, in canonical order."""
        mapped = []
        for c in cols:
            if c == "capture_id" or (name == "captures" and c == "id"):
                mapped.append(self.capture)
            elif c == "flow_id" or (name == "flows" and c == "id"):
                mapped.append(self.flow)
            else:
                mapped.append(None)
        sel = ", ".join(f'"{c}"' for c in cols)
        out = []
        for row in self.con.execute(f'SELECT {sel} FROM "{name}"'):
            out.append(
                tuple(
                    repr(m.get(v, ("unknown id", v))) if m is not None and v is not None else v
                    for m, v in zip(mapped, row)
                )
            )
        out.sort(key=sort_key)
        return out


def short(v, limit=400):
    r = repr(v)
    return r if len(r) <= limit else r[:limit] + f"... ({len(r)} characters)"


def first_difference(a, b):
    # Tables before views: a view's difference follows from a table's, which says more.
    names = set(a.objects) | set(b.objects)
    for name in sorted(names, key=lambda n: (a.objects.get(n, b.objects.get(n)) != "table", n)):
        if name not in a.objects or name not in b.objects:
            return f"{name}: only in {a.path if name in a.objects else b.path}"
        ca, cb = a.columns(name), b.columns(name)
        if ca != cb:
            return f"{name}: columns differ:\n  {ca}\n  {cb}"
        cols = [c for c in ca if (name, c) not in IGNORED]
        # held_flows ids are the flows' own numbering of rows not (yet) written: by content.
        if name == "held_flows":
            cols = [c for c in cols if c != "id"]
        ra, rb = a.rows(name, cols), b.rows(name, cols)
        for i, (x, y) in enumerate(zip(ra, rb)):
            if x != y:
                diff = [f"    {c}: {short(u)} != {short(v)}" for c, u, v in zip(cols, x, y) if u != v]
                return f"{name}: row {i} (canonical order) differs:\n" + "\n".join(diff)
        if len(ra) != len(rb):
            return f"{name}: {len(ra)} rows != {len(rb)} rows"
    return None


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    try:
        a, b = Db(sys.argv[1]), Db(sys.argv[2])
    except sqlite3.Error as e:
        print(f"same_db: {e}", file=sys.stderr)
        return 2
    diff = first_difference(a, b)
    if diff:
        print(f"same_db: {sys.argv[1]} and {sys.argv[2]} differ: {diff}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
