"""What the write-ups claimed: one JSON file per write-up (`writeups/000.json`, ...), the only place their numbers
are typed. A chapter quotes them as "the write-up reported", beside what its own run measured.

    from mnistkit.writeups import claim
    claim("000", "model3")["test_acc_by_epoch"]
"""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path

FOLDER = Path(__file__).parent
WRITEUPS = ("000", "001", "002", "003", "004")  # the five write-ups the chapters rebuild


@cache
def writeup(number: str) -> dict:
    """The whole record of write-up `number` ("000" ... "004"): title, note, claims by key."""
    path = FOLDER / f"{number}.json"
    if number not in WRITEUPS or not path.exists():
        have = sorted(p.stem for p in FOLDER.glob("*.json"))
        raise ValueError(f"write-up {number!r} is not allowed: expected one of {', '.join(have)}")
    return json.loads(path.read_text())


def claim(number: str, key: str) -> dict:
    """One claim of write-up `number` (e.g. "000", "model3"): the numbers its author reported for it."""
    claims = writeup(number)["claims"]
    if key not in claims:
        raise ValueError(f"write-up {number} has no claim {key!r}: expected one of {', '.join(claims)}")
    return claims[key]
