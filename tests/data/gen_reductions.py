"""Generates reductions.tsv: NumPy 2's result dtype and value of every reduction over every
dtype, over all elements and along axes 0 and -1 of a (3, 4) array, on fixed small data.

Run with the project's venv (NumPy 2.4.6): .venv/bin/python tests/data/gen_reductions.py
Columns: func, dtype, axis ('none', '0', '-1'), result dtype, values (space-separated, C order;
floats as repr of the float64 value, complex as re,im; 'ERR' when NumPy raises).
"""
import numpy as np

BASE = [3, -1, 2, 0, 5, 7, -4, 1, 9, 2, -6, 8, 1]
DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float16", "float32", "float64", "complex64", "complex128"]
FUNCS = ["sum", "prod", "mean", "min", "max", "any", "all", "argmin", "argmax"]


def data(dt):
    b = np.array(BASE)
    if dt == "bool":
        return b > 0
    if dt.startswith("uint"):
        return np.abs(b).astype(dt)
    if dt.startswith("int"):
        return b.astype(dt)
    if dt.startswith("float"):
        return (b * 0.37 + 0.1).astype(dt)
    return (b * 0.37 + 1j * (b % 3)).astype(dt)


def fmt(v):
    v = np.asarray(v)
    out = []
    for x in v.reshape(-1):
        if v.dtype.kind == "c":
            out.append(f"{float(x.real)!r},{float(x.imag)!r}")
        elif v.dtype.kind == "f":
            out.append(repr(float(x)))
        elif v.dtype.kind == "b":
            out.append("1" if x else "0")
        else:
            out.append(str(int(x)))
    return " ".join(out)


def main():
    rows = ["func\tdtype\taxis\tresult\tvalues"]
    for dt in DTYPES:
        a = data(dt)
        m = a[:12].reshape(3, 4)
        for f in FUNCS:
            fn = getattr(np, f)
            r = fn(a)
            rows.append(f"{f}\t{dt}\tnone\t{r.dtype}\t{fmt(r)}")
            if f in ("argmin", "argmax"):
                continue
            for ax in (0, -1):
                r = fn(m, axis=ax)
                rows.append(f"{f}\t{dt}\t{ax}\t{r.dtype}\t{fmt(r)}")
    with open(__file__.replace("gen_reductions.py", "reductions.tsv"), "w") as fh:
        fh.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
