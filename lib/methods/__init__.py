"""The methods floor: estimators and their result objects, one module per family.

Every estimator takes a DataFrame, then the names of its columns, then options,
keyword-only, and returns a small result object with tidy frames; none knows
the default panel's column names. Families (``METHODS.md`` has one entry per
estimator, with its equation, standard errors and reference implementation):

* :mod:`~lib.methods.did` -- two-way FE DID, event study, placebo / randomization inference;
* :mod:`~lib.methods.staggered` -- Goodman-Bacon, Callaway-Sant'Anna, Sun-Abraham (diff-diff);
* :mod:`~lib.methods.psm` -- propensity scores, kernel and nearest-neighbour matching, PSM-DID;
* :mod:`~lib.methods.mediation` -- three-step mediation, Sobel, cluster bootstrap;
* :mod:`~lib.methods.heterogeneity` -- group effects and Wald tests;
* :mod:`~lib.methods.inference` -- wild cluster bootstrap, Driscoll-Kraay;
* :mod:`~lib.methods.panel` -- the fixed-effects engine the estimators share;
* :mod:`~lib.methods.results` -- :class:`~lib.methods.results.RegressionResult`;
* :mod:`~lib.methods.text` and :mod:`~lib.methods.theory` -- policy-text counting (its corpora are :mod:`lib.data.policy_corpus`), the growth model.

Imports :mod:`lib.data` and :mod:`lib.present`, never :mod:`lib.book`
(``tests/test_architecture.py``).
"""

from lib.methods import (did, heterogeneity, inference, mediation, panel, psm, results, staggered, text,
                         theory)
from lib.methods.did import event_study, placebo_test, selection_logit, twfe
from lib.methods.heterogeneity import group_effects, wald_equal
from lib.methods.inference import driscoll_kraay, wild_cluster_bootstrap
from lib.methods.mediation import sobel, three_step
from lib.methods.psm import kernel_match, nn_match, propensity_score, psm_did
from lib.methods.results import RegressionResult
from lib.methods.staggered import bacon_decomposition, callaway_santanna, sun_abraham

__all__ = ["did", "heterogeneity", "inference", "mediation", "panel", "psm", "results", "staggered",
           "text", "theory", "twfe", "event_study", "placebo_test", "selection_logit", "group_effects",
           "wald_equal", "wild_cluster_bootstrap", "driscoll_kraay", "three_step", "sobel",
           "propensity_score", "kernel_match", "nn_match", "psm_did", "RegressionResult",
           "bacon_decomposition", "callaway_santanna", "sun_abraham"]
