#!/usr/bin/env python3
"""Re-verify a Medic audit export (medic audit export --format jsonl) without Medic.

Usage: medic audit export > audit.jsonl && python3 scripts/verify-audit-export.py audit.jsonl [SEQ:HASH]

Each line holds one record: seq, time, kind, run_id, body, prev_hash, hash.
hash = SHA-256( prev_hash (64 ASCII hex digits) + canonical JSON of the record without prev_hash and hash ),
canonical JSON = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).
The first record links to 64 zeros (or, after a prune, to the hash its checkpoint names).
Exit 0 and "ok: N records, head SEQ:HASH" when intact; exit 1 naming the first broken record otherwise.
"""
import hashlib
import json
import sys


def main(path, expect_head=None):
    previous = None
    count = 0
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            record = json.loads(line)
            stored, prev_hash = record.pop("hash"), record.pop("prev_hash")
            canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            computed = hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()
            seq = record["seq"]
            if previous is None:
                if seq == 1 and prev_hash != "0" * 64:
                    return fail(f"record 1 does not start the chain (prev_hash {prev_hash})")
            elif seq != previous[0] + 1:
                return fail(f"records {previous[0] + 1}..{seq - 1} are missing")
            elif prev_hash != previous[1]:
                return fail(f"record {seq}: prev_hash does not link to record {seq - 1}")
            if computed != stored:
                return fail(f"record {seq}: contents do not match its hash")
            previous = (seq, stored)
            count += 1
    if expect_head:
        seq, digest = expect_head.split(":", 1)
        if previous is None or previous[0] < int(seq):
            return fail(f"the export ends before the expected head {seq}: its tail was removed")
    head = f"{previous[0]}:{previous[1]}" if previous else "(empty)"
    print(f"ok: {count} records, head {head}")
    return 0


def fail(message):
    print(f"broken: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
