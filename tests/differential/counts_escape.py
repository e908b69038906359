"""The word escaping of `wordcount serial --out` (src/util/escape.cc, counts-file mode), in Python:
'\\' -> '\\\\', tab -> '\\t', newline -> '\\n', CR -> '\\r', other bytes below 0x20 and 0x7f -> '\\xHH'.
No third-party imports: the differential test, bench/job_bench.py and the netbed (whose helpers run
in network namespaces with any python3) all use this one copy."""


def escape(word: bytes) -> bytes:
    out = bytearray()
    for b in word:
        if b == 0x5C:
            out += b"\\\\"
        elif b == 0x09:
            out += b"\\t"
        elif b == 0x0A:
            out += b"\\n"
        elif b == 0x0D:
            out += b"\\r"
        elif b < 0x20 or b == 0x7F:
            out += b"\\x%02x" % b
        else:
            out.append(b)
    return bytes(out)
