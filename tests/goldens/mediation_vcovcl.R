# Reference numbers for lib.methods.mediation from R's sandwich and lmtest: the clustered
# covariance of the mediation paths a (eq. 9) and b (eq. 10) with city and year dummies, on the
# book's shipped semi-synthetic panel, mediator Diginf. Run: Rscript tests/goldens/mediation_vcovcl.R
suppressPackageStartupMessages({library(sandwich); library(lmtest)})

args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("--file=", "", args[grep("--file=", args)])))
source(file.path(here, "common.R"))

d <- panel[complete.cases(panel[, c("Inno", "CBEC", "Diginf", X)]), ]
d$city <- factor(d$city_id); d$yr <- factor(d$year)
fa <- lm(reformulate(c("CBEC", X, "city", "yr"), "Diginf"), data = d)
fb <- lm(reformulate(c("CBEC", "Diginf", X, "city", "yr"), "Inno"), data = d)

# one-way clustered by city, HC0 with the G/(G-1) adjustment (no (N-1)/(N-K) factor)
va <- vcovCL(fa, cluster = ~city_id, type = "HC0", cadjust = TRUE)
vb <- vcovCL(fb, cluster = ~city_id, type = "HC0", cadjust = TRUE)
# the cross-covariance of a and b from the stacked estimating equations, with the same pieces
# sandwich uses: estfun (X_i u_i) summed by city, the OLS bread (X'X)^-1, and G/(G-1)
G <- length(unique(d$city_id))
Ua <- rowsum(estfun(fa), d$city_id); Ub <- rowsum(estfun(fb), d$city_id)
Ba <- solve(crossprod(model.matrix(fa))); Bb <- solve(crossprod(model.matrix(fb)))
cab <- G / (G - 1) * (Ba %*% t(Ua) %*% Ub %*% Bb)["CBEC", "Diginf"]
stopifnot(abs((G / (G - 1) * (Ba %*% t(Ua) %*% Ua %*% Ba))["CBEC", "CBEC"] - va["CBEC", "CBEC"]) < 1e-15)
ct <- coeftest(fa, vcov. = va)
out(data.frame(a = coef(fa)[["CBEC"]], b = coef(fb)[["Diginf"]],
               var_a = va["CBEC", "CBEC"], var_b = vb["Diginf", "Diginf"], cov_ab = cab,
               t_a = ct["CBEC", "t value"], nobs = nrow(d), clusters = G),
    "mediation_vcovcl.csv")
write_versions(c("sandwich", "lmtest"), "mediation_versions.csv")
