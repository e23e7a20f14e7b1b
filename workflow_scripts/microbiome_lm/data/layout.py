"""File names and zip layouts of the published dataset (Dryad README; reference section 1).

The toy mirror, the download stage, the extraction stage and the tests all read these
lists, so the miniature and the real dataset cannot drift apart.
"""

from __future__ import annotations

# Raw file groups: where each comes from.
GROUPS = ("dryad", "zenodo", "agp_metadata", "cohorts")

DRYAD_FILES = (
    "vocab_embeddings.npy",
    "seqs_.07_embed.fasta",
    "microbiomedata.zip",
    "pretrainedmodels.zip",
    "ensemble.zip",
    "README.md",
)
ZENODO_FILES = ("property_pathway_correlations.zip",)
HOST_METADATA_FILES = ("err-to-qid.txt", "AG_mapping.txt", "seqtab_final_filter.07.txt")
COHORT_FILES = ("halfvarson_asvs.fasta", "hmp2_asvs.fasta")

# Members of microbiomedata.zip (Dryad README "File Structures"), at the root of the zip.
MICROBIOMEDATA_MEMBERS = (
    "total_IBD_otu.npy",
    "total_IBD_512.npy",
    "total_IBD_label.npy",
    "IBD_train_otu.npy",
    "IBD_train_512.npy",
    "IBD_train_label.npy",
    "IBD_test_otu.npy",
    "IBD_test_512.npy",
    "IBD_test_label.npy",
    "halfvarson_otu.npy",
    "halfvarson_512_otu.npy",
    "halfvarson_IBD_labels.npy",
    "schirmer_IBD_otu.npy",
    "schirmer_IBD_512_otu.npy",
    "schirmer_IBD_labels.npy",
    "train_encodings_512.npy",
    "train_encodings_1897.npy",
    "test_encodings_512.npy",
    "test_encodings_1897.npy",
    "fruitdata/FRUIT_FREQUENCY_all_otu.npy",
    "fruitdata/FRUIT_FREQUENCY_otu_512.npy",
    "fruitdata/FRUIT_FREQUENCY_all_label.npy",
    "fruitdata/FRUIT_FREQUENCY_binary24_labels.npy",
    "fruitdata/FRUIT_FREQUENCY_binary34_labels.npy",
    "vegdata/VEGETABLE_FREQUENCY_all_otu.npy",
    "vegdata/VEGETABLE_FREQUENCY_otu_512.npy",
    "vegdata/VEGETABLE_FREQUENCY_all_label.npy",
    "vegdata/VEGETABLE_FREQUENCY_binary24_labels.npy",
    "vegdata/VEGETABLE_FREQUENCY_binary34_labels.npy",
    "README",
)

# Coordinate-list arrays among the members, paired with their label file (None = unlabelled).
MICROBIOMEDATA_ARRAYS = {
    "total_IBD_otu.npy": "total_IBD_label.npy",
    "total_IBD_512.npy": "total_IBD_label.npy",
    "IBD_train_otu.npy": "IBD_train_label.npy",
    "IBD_train_512.npy": "IBD_train_label.npy",
    "IBD_test_otu.npy": "IBD_test_label.npy",
    "IBD_test_512.npy": "IBD_test_label.npy",
    "halfvarson_otu.npy": "halfvarson_IBD_labels.npy",
    "halfvarson_512_otu.npy": "halfvarson_IBD_labels.npy",
    "schirmer_IBD_otu.npy": "schirmer_IBD_labels.npy",
    "schirmer_IBD_512_otu.npy": "schirmer_IBD_labels.npy",
    "train_encodings_512.npy": None,
    "train_encodings_1897.npy": None,
    "test_encodings_512.npy": None,
    "test_encodings_1897.npy": None,
    "fruitdata/FRUIT_FREQUENCY_all_otu.npy": "fruitdata/FRUIT_FREQUENCY_binary34_labels.npy",
    "fruitdata/FRUIT_FREQUENCY_otu_512.npy": "fruitdata/FRUIT_FREQUENCY_binary34_labels.npy",
    "vegdata/VEGETABLE_FREQUENCY_all_otu.npy": "vegdata/VEGETABLE_FREQUENCY_binary34_labels.npy",
    "vegdata/VEGETABLE_FREQUENCY_otu_512.npy": "vegdata/VEGETABLE_FREQUENCY_binary34_labels.npy",
}

PRETRAINED_EPOCHS = (0, 15, 30, 45, 60, 75, 90, 105, 120)
PRETRAINED_CHECKPOINTS = tuple(f"5head5layer_epoch{e}_disc" for e in PRETRAINED_EPOCHS)
ENSEMBLE_CHECKPOINTS = tuple(f"run{k}_epoch0_disc" for k in range(1, 11))
CHECKPOINT_FILES = ("config.json", "pytorch_model.bin")

# Zips whose entries all sit under one top-level folder; extraction strips it, so the
# members below are the paths as extracted (the toy mirror writes them under this folder).
ARCHIVE_TOP_FOLDER = {"property_pathway_correlations.zip": "property_pathway_correlations"}

# Member of the Zenodo pathway zip the pathway stage reads (the toy mirror writes the txt form).
PATHWAY_TABLE_MEMBER = "metabolic_pathways/data/pathways/filtered_otu_pathway_table.txt"


def zip_members(archive: str) -> tuple[str, ...]:
    """Every file member of a published zip, as extracted (top folder stripped, directories implied)."""
    if archive == "microbiomedata.zip":
        return MICROBIOMEDATA_MEMBERS
    if archive == "pretrainedmodels.zip":
        return tuple(f"{c}/{f}" for c in PRETRAINED_CHECKPOINTS for f in CHECKPOINT_FILES)
    if archive == "ensemble.zip":
        return tuple(f"{c}/{f}" for c in ENSEMBLE_CHECKPOINTS for f in CHECKPOINT_FILES)
    if archive == "property_pathway_correlations.zip":
        return (PATHWAY_TABLE_MEMBER,)
    raise KeyError(f"unknown archive {archive!r}")
