#!/usr/bin/env Rscript
# Embedding dimension x KEGG pathway correlations with a max-|r| permutation null: the semantics of
# metabolic_pathway_correlations.R (Pope et al. 2025; reference 3 step 7), vectorised.
#
# Run by `microbiome-lm pathway-correlations --engine r`, which aligns the taxa and writes the inputs:
#   inputs.json       n_taxa, n_dims, pathway_ids, n_permutations, alpha, top_n
#   embeddings.f64    n_taxa x n_dims doubles, row-major, little-endian
#   pathways.f64      n_taxa x n_pathways 0/1 doubles, same layout
#   permutations.i32  n_permutations x n_taxa 0-based row orders (numpy default_rng(seed)), so that
#                     this script and the numpy engine apply the very same shuffles
# Writes into --out-dir the tables of the numpy engine (same columns and row order):
#   correlations.tsv, null_max_abs_r.tsv, significant.tsv, best_per_property.tsv, top_per_property.tsv,
#   and r_summary.json (threshold, n_kept, dropped).

suppressPackageStartupMessages({
  library(optparse)
  library(jsonlite)
  library(data.table)
})

options <- parse_args(OptionParser(option_list = list(
  make_option("--inputs", help = "inputs.json written by the Python side"),
  make_option("--out-dir", dest = "out_dir", help = "folder for the tables")
)))
if (is.null(options$inputs) || is.null(options$out_dir)) stop("--inputs and --out-dir are required")

header <- fromJSON(options$inputs)
folder <- dirname(options$inputs)

read_matrix <- function(name, what, size, nrow, ncol) {
  con <- file(file.path(folder, name), "rb")
  on.exit(close(con))
  values <- readBin(con, what, n = nrow * ncol, size = size, endian = "little")
  if (length(values) != nrow * ncol) stop(name, ": expected ", nrow * ncol, " values, found ", length(values))
  matrix(values, nrow = nrow, ncol = ncol, byrow = TRUE)
}

n <- header$n_taxa
pathway_ids <- header$pathway_ids
embeddings <- read_matrix("embeddings.f64", "double", 8, n, header$n_dims)
pathways <- read_matrix("pathways.f64", "double", 8, n, length(pathway_ids))
permutations <- read_matrix("permutations.i32", "integer", 4, header$n_permutations, n) + 1L

# Pathways absent from every taxon or present in every taxon carry no correlation.
constant <- apply(pathways, 2, function(column) min(column) == max(column))
kept_ids <- pathway_ids[!constant]
z <- scale(embeddings)                    # each property z-scored across taxa (sd with n - 1)
p <- scale(pathways[, !constant, drop = FALSE])
r <- crossprod(z, p) / (n - 1)            # Pearson r of every property x pathway

# Null: shuffle the rows of the pathway table; keep the largest |r| of each shuffle. A batch of
# shuffled tables sits side by side, so one matrix product serves the whole batch.
k <- ncol(p)
batch <- max(1L, floor(128 * 2^20 / (8 * n * k)))
null_max <- numeric(header$n_permutations)
for (start in seq(1L, header$n_permutations, by = batch)) {
  rows <- start:min(start + batch - 1L, header$n_permutations)
  shuffled <- do.call(cbind, lapply(rows, function(i) p[permutations[i, ], , drop = FALSE]))
  products <- abs(crossprod(z, shuffled))
  block <- rep(seq_along(rows), each = k)
  null_max[rows] <- vapply(seq_along(rows), function(b) max(products[, block == b]), numeric(1)) / (n - 1)
}
threshold <- unname(quantile(null_max, 1 - header$alpha, type = 7))

n_dims <- nrow(r)
long <- data.table(
  property = rep(seq_len(nrow(r)) - 1L, each = k),
  path_id = rep(kept_ids, times = nrow(r)),
  corr_val = as.vector(t(r))
)
long[, significant := as.integer(abs(corr_val) > threshold)]
ranked <- long[order(property, -abs(corr_val))]   # radix order: stable, ties keep table order
ranked[, rank := seq_len(.N), by = property]

out <- options$out_dir
write_tsv <- function(table, name) fwrite(table, file.path(out, name), sep = "\t", quote = FALSE)
write_tsv(long[, .(property, path_id, corr_val)], "correlations.tsv")
write_tsv(data.table(permutation = seq_along(null_max), max_abs_r = null_max), "null_max_abs_r.tsv")
write_tsv(ranked[significant == 1L, .(property, path_id, corr_val)], "significant.tsv")
write_tsv(ranked[rank == 1L, .(property, path_id, corr_val, significant)], "best_per_property.tsv")
write_tsv(ranked[rank <= header$top_n, .(property, rank, path_id, corr_val, significant)], "top_per_property.tsv")
write_json(list(threshold = threshold, n_kept = k, dropped = I(pathway_ids[constant])),
           file.path(out, "r_summary.json"), auto_unbox = TRUE, digits = NA)
cat(sprintf("%d properties x %d pathways, %d permutations, threshold |r| > %.4f, %d significant\n",
            n_dims, k, header$n_permutations, threshold, sum(long$significant)))
