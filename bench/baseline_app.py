"""The hand-written baseline: what a team writes to serve a pickle with Flask + gunicorn.

``BASELINE_MODEL=path.joblib gunicorn bench.baseline_app:app``; POST a list of
records to ``/predict``. No auth, no metrics, no version headers: the bench
measures what veneer's extra work costs against this.
"""

import os

import joblib
import pandas as pd
from flask import Flask, jsonify, request

model = joblib.load(os.environ["BASELINE_MODEL"])
app = Flask(__name__)


@app.get("/")
def health():
    """Readiness for the bench harness."""
    return "ok"


@app.post("/predict")
def predict():
    """Records in, predictions out."""
    df = pd.DataFrame(request.get_json())
    return jsonify({"predictions": model.predict(df).tolist()})
