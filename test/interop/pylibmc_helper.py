"""Drives the real pylibmc (Debian's python3-pylibmc) for the interop tests.

Reads one JSON request on stdin and writes one JSON answer on stdout:

  {"servers": ["127.0.0.1:11211"], "binary": false, "behaviors": {...}, "namespace": "ns:",
   "ops": [...]}

or a JSON array of such requests, answered by an array of answers in the same order (one Python
process for many clients: starting one costs more than most requests).

Each op is one of
  {"op": "set", "key": k, "expr": python_expression, "min_compress_len": n, "pickle_protocol": p}
  {"op": "set_multi", "mapping": {k: python_expression}, "key_prefix": p}
  {"op": "check", "key": k, "expr": python_expression}   -> {"ok": equal and same type, "repr", "type"}
  {"op": "get_multi", "keys": [k], "key_prefix": p}      -> {"repr": repr of the dict}
  {"op": "behaviors", "behaviors": {...}}                 -> {"behaviors": get_behaviors() of a client made with them}
  {"op": "hash", "keys": [k]}                             -> {"servers": [index of the server of each key]}
  {"op": "assign", "behaviors": {...}}                    -> {} after `client.behaviors = {...}` on the
                                                             request's client, for the ops after it

Expressions are Python source evaluated with a few names only (test data written by the test
suite itself, never input from elsewhere).
"""
import json
import pickle
import sys

import pylibmc

NAMES = {"__builtins__": {}, "frozenset": frozenset, "bytearray": bytearray, "float": float, "range": range, "list": list}


def value_of(expr):
    return eval(expr, dict(NAMES), {})  # noqa: S307 - the test suite's own literals


class PickleProtocolClient(pylibmc.Client):
    """pylibmc writing pickles of an older protocol: its own serializer, protocol aside."""

    protocol = 5

    def serialize(self, value):
        if isinstance(value, (bytes, str, bool, int)):
            return super().serialize(value)
        return pickle.dumps(value, self.protocol), 1


def client(request, protocol=None):
    behaviors = dict(request.get("behaviors", {}))
    if request.get("namespace"):
        behaviors["namespace"] = request["namespace"].encode()
    cls = pylibmc.Client
    if protocol is not None:
        cls = type("Proto%d" % protocol, (PickleProtocolClient,), {"protocol": protocol})
    return cls(request["servers"], binary=request.get("binary", False), behaviors=behaviors)


def run(request):
    plain = client(request)
    out = []
    for op in request["ops"]:
        kind = op["op"]
        if kind == "set":
            mc = client(request, op.get("pickle_protocol")) if op.get("pickle_protocol") else plain
            ok = mc.set(op["key"], value_of(op["expr"]), min_compress_len=op.get("min_compress_len", 0))
            out.append({"ok": bool(ok)})
        elif kind == "set_multi":
            mapping = {k: value_of(v) for k, v in op["mapping"].items()}
            failed = plain.set_multi(mapping, key_prefix=op.get("key_prefix", ""))
            out.append({"failed": list(failed)})
        elif kind == "check":
            try:
                got = plain.get(op["key"])
            except Exception as error:  # reported, so that the test shows pylibmc's own words
                out.append({"ok": False, "error": "%s: %s" % (type(error).__name__, error)})
                continue
            want = value_of(op["expr"])
            out.append({"ok": got == want and type(got) is type(want), "repr": repr(got), "type": type(got).__name__})
        elif kind == "behaviors":
            mc = client(dict(request, behaviors=op["behaviors"]))
            out.append({"behaviors": dict(mc.get_behaviors())})
        elif kind == "hash":
            out.append({"servers": [plain.hash(k) for k in op["keys"]]})
        elif kind == "assign":
            plain.behaviors = op["behaviors"]
            out.append({})
        elif kind == "get_multi":
            got = plain.get_multi(op["keys"], key_prefix=op.get("key_prefix", ""))
            out.append({"repr": repr(dict(sorted(got.items())))})
        else:
            raise SystemExit("unknown op %r" % kind)
    return out


def main():
    request = json.load(sys.stdin)
    answer = [run(r) for r in request] if isinstance(request, list) else run(request)
    # One write: json.dump writes every token separately, which costs seconds for large answers.
    sys.stdout.write(json.dumps(answer))


if __name__ == "__main__":
    main()
