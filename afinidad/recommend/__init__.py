"""Recommendations: recommenders as estimators over a user x item interaction matrix, the evaluation
protocol they are chosen by, and (in the API) what a shop shows. Pure numpy/scipy: nothing here does I/O
except the dataset readers in `interactions`."""
