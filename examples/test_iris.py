"""Sacred's iris RBF-SVM example as a pytest-sacred experiment.

    pytest examples/ -k iris
    pytest examples/ -k iris --sacred-with C=2.0
    pytest examples/ -k iris --sacred-named-config wide
"""

import pickle

import pytest

svm = pytest.importorskip("sklearn.svm", reason="the iris example needs scikit-learn "
                          "(pip install 'pytest-sacred[examples]')")
from sklearn import datasets  # noqa: E402


@pytest.mark.experiment("iris_rbf_svm")
@pytest.mark.parametrize("kernel", ["rbf", "poly"])
def test_iris(C, gamma, kernel, rnd, sacred_run, tmp_path):
    iris = datasets.load_iris()
    order = rnd.permutation(len(iris.target))
    X, y = iris.data[order], iris.target[order]
    clf = svm.SVC(C=C, kernel=kernel, gamma=gamma).fit(X[:90], y[:90])
    score = clf.score(X[90:], y[90:])
    sacred_run.log_scalar("test.accuracy", score)
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(clf))  # kept as an artifact
    return score
