"""Importing the codecs stays cheap: no pandas, no Flask, no MLflow until a request needs them."""

from __future__ import annotations

import subprocess
import sys


def test_codecs_import_neither_pandas_nor_flask_nor_mlflow():
    code = ("import sys\n"
            "from veneer.wrapper.codecs import jsonfast, kserve_v1, mlflow_payloads, oip, tabular\n"
            "heavy = ('pandas', 'flask', 'mlflow', 'werkzeug')\n"
            "print(sorted(m for m in heavy if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
