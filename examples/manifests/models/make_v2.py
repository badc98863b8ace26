# Makes breast_cancer_v2.json: a retrained XGBoost model for the same 30
# features as examples/xgboost/breast_cancer.json (30 trees of depth 3
# instead of 50 of depth 4), the "candidate" of the example manifests.
# Run with XGBoost 1.7.4 and scikit-learn: python3 make_v2.py
import xgboost as xgb
from sklearn.datasets import load_breast_cancer

data = load_breast_cancer()
names = [n.replace(" ", "_") for n in data.feature_names]
d = xgb.DMatrix(data.data, label=data.target, feature_names=names)
b = xgb.train({"objective": "binary:logistic", "max_depth": 3, "eta": 0.3, "seed": 7}, d, num_boost_round=30)
b.save_model("breast_cancer_v2.json")
