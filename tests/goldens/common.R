# What every golden script shares: where it is, the repository root, the shipped panel, Table 5's
# eight matching variables, a CSV writer into tests/goldens, and the versions file.
# Sourced by the scripts after they set `here` (their own folder).
root <- normalizePath(file.path(here, "..", ".."))
panel_file <- file.path(root, "data", "derived", "cbec_city_panel.csv")
panel <- read.csv(panel_file)
X <- c("lnpop", "lnaca", "lngdp", "Infra", "lngov", "Urban", "Incoms", "lninter")
out <- function(frame, name) write.csv(frame, file.path(here, name), row.names = FALSE)
write_versions <- function(packages, name) {
  out(data.frame(software = c("R", packages),
                 version = c(R.version.string, vapply(packages, function(p) as.character(packageVersion(p)), "")),
                 input = "data/derived/cbec_city_panel.csv", input_md5 = unname(tools::md5sum(panel_file))),
      name)
}
