# Reference numbers for the cluster bootstrap of the indirect effect a*b (mediator Diginf, city
# and year dummies, the shipped semi-synthetic panel) and its BCa interval, from R's boot.
# boot resamples the 280 cities with replacement; a city drawn twice enters as two relabelled
# copies (its own dummy each). The jackknife influence values L (one city left out at a time,
# boot's empinf(type = "jack")) are passed to boot.ci, whose default would estimate L by
# regression on the resampling frequencies instead. Written: the draws (city positions, 1-based,
# sorted city_id order), the replicates, L, and the percentile and BCa limits at 90 % and 95 %.
# Run: Rscript tests/goldens/mediation_bca.R   (about two minutes)
suppressPackageStartupMessages(library(boot))

args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("--file=", "", args[grep("--file=", args)])))
source(file.path(here, "common.R"))

d <- panel[complete.cases(panel[, c("Inno", "CBEC", "Diginf", X)]), ]
cities <- sort(unique(d$city_id))
rows <- split(seq_len(nrow(d)), factor(d$city_id, levels = cities))

ab <- function(ids, i) {
  take <- rows[ids[i]]
  s <- d[unlist(take), ]
  s$city <- factor(rep(seq_along(take), lengths(take)))   # a copy drawn twice is a new city
  s$yr <- factor(s$year)
  a <- coef(lm(reformulate(c("CBEC", X, "city", "yr"), "Diginf"), data = s))[["CBEC"]]
  b <- coef(lm(reformulate(c("CBEC", "Diginf", X, "city", "yr"), "Inno"), data = s))[["Diginf"]]
  a * b
}

set.seed(20261202)
bt <- boot(seq_along(cities), ab, R = 199)
L <- empinf(bt, type = "jack")
ci <- boot.ci(bt, conf = c(0.90, 0.95), type = c("perc", "bca"), L = L)

idx <- boot.array(bt, indices = TRUE)
write.csv(data.frame(rep = rep(seq_len(nrow(idx)), each = ncol(idx)), draw = as.vector(t(idx))),
          gzfile(file.path(here, "mediation_bca_draws.csv.gz")), row.names = FALSE)
out(data.frame(rep = seq_along(bt$t), indirect = bt$t[, 1]), "mediation_bca_replicates.csv")
out(data.frame(city_id = cities, L = L), "mediation_bca_jackknife.csv")
out(data.frame(level = c(0.90, 0.95), estimate = bt$t0,
               perc_lower = ci$percent[, 4], perc_upper = ci$percent[, 5],
               bca_lower = ci$bca[, 4], bca_upper = ci$bca[, 5]), "mediation_bca.csv")
write_versions("boot", "mediation_bca_versions.csv")
