"""`probsweep diagnose`: the sweep's diagnosis of a model you already have, or of its predictions.

inputs.py reads what is diagnosed (a saved Keras model on the configured data, or a predictions file
from any framework) into `Outputs`; run.py analyses them as a trial is analysed (probs/analysis.py),
records an MLflow run (tag kind=diagnosis) and writes the HTML report (report/diagnosis_page.py).
"""
