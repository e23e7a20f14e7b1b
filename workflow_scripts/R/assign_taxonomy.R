#!/usr/bin/env Rscript
# DADA2 assignTaxonomy of a fasta of 16S sequences (reference 10, assign_16S_to_phyla.R).
# Driven by `microbiome-lm taxonomy`, which checks the inputs and assembles the final table;
# this script only classifies and writes ranks and bootstrap confidences, one row per record.
# Exit status 3: a required R package is missing (the message names the packages to install).

for (pkg in c("optparse", "dada2")) {
  if (!requireNamespace(pkg, quietly = TRUE)) {
    message(
      "R package '", pkg, "' is not installed. Debian: apt-get install --no-install-recommends ",
      "r-cran-optparse r-bioc-dada2; conda: the environment envs/r.yaml ",
      "(r-optparse, bioconductor-dada2)."
    )
    quit(status = 3)
  }
}
suppressPackageStartupMessages({
  library(optparse)
  library(dada2)
})

RANKS <- c("Kingdom", "Phylum", "Class", "Order", "Family", "Genus")

options <- parse_args(OptionParser(option_list = list(
  make_option("--seqs", help = "fasta of the sequences to classify"),
  make_option("--reference", help = "DADA2-formatted training fasta (optionally gzipped)"),
  make_option("--out", help = "tab-separated output: record, ranks, boot_<rank>"),
  make_option("--min-boot", type = "integer", default = 50L, dest = "min_boot"),
  make_option("--seed", type = "integer", default = 100L),
  make_option("--threads", type = "integer", default = 1L),
  make_option("--try-rc", action = "store_true", default = FALSE, dest = "try_rc")
)))

seqs <- getSequences(options$seqs)
names(seqs) <- sub("\\s.*", "", names(seqs))  # the record id, as Python reads it
# set.seed fixes the bootstrap k-mer draws (R's runif). dada2's C++ code breaks score ties with an
# unseeded RNG, so a bootstrap confidence can still move by a few points between runs.
set.seed(options$seed)
started <- Sys.time()
result <- assignTaxonomy(
  seqs, options$reference,
  minBoot = options$min_boot, tryRC = options$try_rc, outputBootstraps = TRUE,
  taxLevels = RANKS, multithread = options$threads, verbose = TRUE
)
message(sprintf(
  "assignTaxonomy: %d sequences in %.1f s (dada2 %s, %d threads)", length(seqs),
  as.numeric(difftime(Sys.time(), started, units = "secs")), packageVersion("dada2"), options$threads
))

# A reference with fewer levels than RANKS yields fewer columns: pad with NA.
pad <- function(m, fill) {
  out <- matrix(fill, nrow = length(seqs), ncol = length(RANKS), dimnames = list(NULL, RANKS))
  out[, colnames(m)] <- m
  out
}
tax <- pad(result$tax, NA_character_)
boot <- pad(result$boot, NA_integer_)
colnames(boot) <- paste0("boot_", RANKS)
table <- data.frame(record = names(seqs), tax, boot, check.names = FALSE, stringsAsFactors = FALSE)
write.table(table, options$out, sep = "\t", quote = FALSE, row.names = FALSE, na = "NA")
