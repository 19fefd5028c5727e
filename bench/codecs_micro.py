"""Micro-benchmark of the payload codecs on the hot path (not a test).

For each codec and a 1-row and a 100-row request of 10 numeric features,
prints microseconds per decode (bytes -> Batch), per encode (outputs -> bytes)
and per decode+encode, plus the cost of the first thing most adapters do with
the batch (``batch.frame()``). Run: ``.venv/bin/python bench/codecs_micro.py``.
"""

from __future__ import annotations

import argparse
import random
import time
import timeit
from typing import Callable

import numpy as np

from veneer.wrapper.batch import Batch
from veneer.wrapper.codecs import jsonfast, kserve_v1, mlflow_payloads, oip, tabular

FEATURES = [f"f{i}" for i in range(10)]
JSON = "application/json"


def _rows(n: int) -> list[list[float]]:
    rnd = random.Random(n)
    return [[round(rnd.uniform(-100, 100), 4) for _ in FEATURES] for _ in range(n)]


def _payloads(n: int) -> dict[str, tuple[Callable[[], object], Callable[[object], bytes]]]:
    rows = _rows(n)
    records = [dict(zip(FEATURES, r)) for r in rows]
    out = {"predictions": np.random.default_rng(n).random(n)}
    oip_body = jsonfast.dumps({"id": "1", "inputs": [
        {"name": "input-0", "shape": [n, len(FEATURES)], "datatype": "FP64",
         "data": sum(rows, [])}]})
    v1_body = jsonfast.dumps({"instances": rows})
    mlflow_body = jsonfast.dumps({"dataframe_split": {"columns": FEATURES, "data": rows}})
    native_body = jsonfast.dumps(records)
    lines = [",".join(FEATURES)] + [",".join(map(str, r)) for r in rows]
    csv_body = ("\n".join(lines) + "\n").encode()

    def oip_decode():
        return oip.decode_infer_request(jsonfast.loads(oip_body))

    def oip_encode(decoded):
        return jsonfast.dumps(oip.encode_infer_response(
            model_name="m", model_version="1", outputs=out, info=decoded[1]))

    def mlflow_decode():
        return mlflow_payloads.decode_request(mlflow_body, JSON)

    def native_decode():
        return tabular.decode_native(native_body, JSON)

    def csv_decode():
        return tabular.decode_native(csv_body, "text/csv")

    def native_encode(decoded):
        return tabular.encode_native(out, decoded[1], decoded[0])[0]

    return {
        "oip (FP64 tensor)": (oip_decode, oip_encode),
        "kserve_v1 (instances)": (lambda: kserve_v1.decode_v1(jsonfast.loads(v1_body)),
                                  lambda _: jsonfast.dumps(kserve_v1.encode_v1(out))),
        "mlflow (dataframe_split)": (mlflow_decode, lambda d: jsonfast.dumps(
            mlflow_payloads.encode(out, d[1]))),
        "native (records)": (native_decode, native_encode),
        "native (csv)": (csv_decode, native_encode),
    }


def _batch_of(decoded):
    return decoded[0] if isinstance(decoded, tuple) else decoded


def _us(fn: Callable[[], object], budget: float) -> float:
    """Best-of-5 microseconds per call, each repeat running for about ``budget`` seconds."""
    # CPU time, not wall time: on a shared machine other processes' load stays out of it
    timer = timeit.Timer(fn, timer=time.process_time)
    number, _ = timer.autorange()
    number = max(1, int(number * budget / 0.2))
    return min(timer.repeat(repeat=5, number=number)) / number * 1e6


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=0.1, help="seconds per timing repeat")
    args = parser.parse_args()
    print(f"{'codec':26} {'rows':>4} {'decode µs':>10} {'encode µs':>10} {'dec+enc µs':>11} "
          f"{'frame() µs':>11}")
    for n in (1, 100):
        for name, (decode, encode) in _payloads(n).items():
            decoded = decode()
            _batch_of(decoded).frame()  # pandas imported and warm before timing
            dec = _us(decode, args.budget)
            enc = _us(lambda: encode(decoded), args.budget)
            both = _us(lambda: encode(decode()), args.budget)
            batch = _batch_of(decoded)
            frame = _us(lambda: Batch(columns=batch.columns, rows=batch.rows, tensors=batch.tensors,
                                      _frame=None if batch.rows is not None or batch.tensors
                                      else batch._frame).frame(), args.budget)
            print(f"{name:26} {n:>4} {dec:>10.1f} {enc:>10.1f} {both:>11.1f} {frame:>11.1f}")


if __name__ == "__main__":
    main()
