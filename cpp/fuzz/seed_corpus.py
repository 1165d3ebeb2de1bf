"""Seeds libFuzzer corpus directories with every formula of the conformance file, one file each
(named by content hash, so reseeding is idempotent). Usage: seed_corpus.py DIR [DIR ...]"""
import hashlib
import pathlib
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[2]


def main(dirs):
    cases = tomllib.loads((ROOT / "tests/formula/data/conformance.toml").read_text(encoding="utf-8"))["case"]
    for d in dirs:
        corpus = pathlib.Path(d)
        corpus.mkdir(parents=True, exist_ok=True)
        for c in cases:
            b = c["formula"].encode()
            (corpus / hashlib.sha1(b).hexdigest()).write_bytes(b)


if __name__ == "__main__":
    main(sys.argv[1:])
