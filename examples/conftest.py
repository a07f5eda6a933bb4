"""Config shared by the example experiments, and a named config they can use."""

from pytest_sacred import config, named_config


@config
def C():
    """Penalty of the SVM."""
    return 1.0


@config
def gamma(C):  # kernel width, derived from C unless set
    return 0.7 / C


@named_config
def wide():
    """Broad kernel, stronger penalty."""
    return {"C": 10.0, "gamma": 0.1}
