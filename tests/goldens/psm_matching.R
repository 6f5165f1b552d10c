# Reference numbers for lib.methods.psm from R's Matching and MatchIt, on the book's shipped
# semi-synthetic panel (data/derived/cbec_city_panel.csv). Run from anywhere:
#   Rscript tests/goldens/psm_matching.R
# Writes tests/goldens/psm_*.csv; tests/test_goldens.py reads them (the tests never need R).
suppressPackageStartupMessages({library(Matching); library(MatchIt)})

args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("--file=", "", args[grep("--file=", args)])))
source(file.path(here, "common.R"))

d <- panel[complete.cases(panel[, c("CBEC", "Inno", X)]), c("city_id", "year", "CBEC", "Inno", X)]

# 1. The probit score, pooled over city-years (the paper's eq. 8)
fit <- glm(reformulate(X, "CBEC"), family = binomial("probit"), data = d,
           control = glm.control(epsilon = 1e-14, maxit = 100))
d$ps <- fitted(fit)
out(data.frame(term = names(coef(fit)), estimate = unname(coef(fit))), "psm_score_coef.csv")

# psmatch2's `common`: treated rows outside the controls' score range are dropped; controls stay
lo <- min(d$ps[d$CBEC == 0]); hi <- max(d$ps[d$CBEC == 0])
s <- d[d$CBEC == 0 | (d$ps >= lo & d$ps <= hi), ]
s <- s[order(s$city_id, s$year), ]

# 2. 5:1 nearest neighbour with replacement, all ties kept, ATT and the Abadie-Imbens s.e. with
#    two same-group matches for the conditional variances (Stata teffects' default); exact ties
#    only (distance.tolerance 1e-12, the book's), the score treated as known
nn <- Match(Y = s$Inno, Tr = s$CBEC, X = s$ps, M = 5, ties = TRUE, replace = TRUE,
            estimand = "ATT", Var.calc = 2, distance.tolerance = 1e-12, version = "standard")
out(data.frame(estimand = "ATT", estimate = nn$est[1, 1], se_ai = nn$se, se_standard = nn$se.standard,
               n_treated = sum(s$CBEC), n_weighted_controls = nn$wnobs),
    "psm_nn5_ties.csv")

# 3. Nearest neighbour without replacement, greedy from the largest score (MatchIt's default order
#    for a score): Matching matches without replacement in data order, so the rows go in by
#    descending score. (MatchIt 4.5.1 as Debian 12 packages it returns the second-nearest control
#    even on a five-row example, see tests/goldens/README.md, so its match matrices are not used.)
byscore <- s[order(-s$ps), ]
for (M in 1:2) {
  nr <- Match(Y = byscore$Inno, Tr = byscore$CBEC, X = byscore$ps, M = M, ties = FALSE, replace = FALSE,
              estimand = "ATT", distance.tolerance = 1e-12, version = "standard")
  pairs <- data.frame(treated_city = byscore$city_id[nr$index.treated], treated_year = byscore$year[nr$index.treated],
                      control_city = byscore$city_id[nr$index.control], control_year = byscore$year[nr$index.control])
  out(pairs, sprintf("psm_nn%d_noreplace_pairs.csv", M))
  out(data.frame(estimand = "ATT", k = M, estimate = nr$est[1, 1], n_treated = length(unique(nr$index.treated))),
      sprintf("psm_nn%d_noreplace.csv", M))
}

# 4. Balance as MatchIt computes it (summary.matchit): standardised mean difference with the treated
#    s.d. as denominator and the variance ratio, unweighted and with the 5:1 matching weights of
#    step 2 (Matching's, which the book reproduces) given as sampling weights
#    (on the full complete-case frame d: the treated rows off the common support weigh 0 when matched)
w <- rep(0, nrow(s)); w[s$CBEC == 1] <- 1
kc <- tapply(nn$weights, nn$index.control, sum); w[as.integer(names(kc))] <- kc
wd <- setNames(rep(0, nrow(d)), rownames(d)); wd[rownames(s)] <- w
balance <- function(weights, sample) {
  sm <- summary(matchit(reformulate(X, "CBEC"), data = d, method = NULL, distance = d$ps, s.weights = weights),
                standardize = TRUE)$sum.all[X, ]
  data.frame(variable = X, sample = sample, mean_treated = sm[, "Means Treated"], mean_control = sm[, "Means Control"],
             smd = sm[, "Std. Mean Diff."], var_ratio = sm[, "Var. Ratio"])
}
out(rbind(balance(rep(1, nrow(d)), "unmatched"), balance(unname(wd), "matched")), "psm_balance_matchit.csv")
out(data.frame(city_id = s$city_id, year = s$year, CBEC = s$CBEC, weight = w)[w > 0, ], "psm_nn5_weights.csv")

write_versions(c("Matching", "MatchIt"), "psm_versions.csv")
