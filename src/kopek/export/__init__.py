"""Item files: billable, consumption and chargeable items written to Parquet or CSV files with manifests."""
