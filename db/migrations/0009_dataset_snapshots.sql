-- Dataset snapshots (the `snapshot` step): what sluice.datasets (0005) needs to answer "which run
-- made this dataset, from what, with which split and encoding, and where are its files". Added
-- columns only, nullable or with defaults: rows written before stay valid, and the table stays
-- append-only (0005's triggers).
ALTER TABLE sluice.datasets ADD COLUMN workflow_id text;
ALTER TABLE sluice.datasets ADD COLUMN run_id      text;
-- {"requested": {"fromSeq": "1" | null, "toSeq": "900" | null}, "covered": {"fromSeq": "3", "toSeq": "897"}}
ALTER TABLE sluice.datasets ADD COLUMN seq_range   jsonb NOT NULL DEFAULT '{}'::jsonb;
-- the dataset spec as given (features, label, task) and the columns kept
ALTER TABLE sluice.datasets ADD COLUMN spec        jsonb NOT NULL DEFAULT '{}'::jsonb;
-- the split rule (key column, hash, fractions, thresholds) and the rows in each part
ALTER TABLE sluice.datasets ADD COLUMN split       jsonb NOT NULL DEFAULT '{}'::jsonb;
-- how the .npy matrices encode the data (feature columns of X, label classes of y, dtype, missing values)
ALTER TABLE sluice.datasets ADD COLUMN encoding    jsonb NOT NULL DEFAULT '{}'::jsonb;
-- the files next to the Arrow file: {"npy": {"train": {"X": {"sha256", "uri", "size"}, "y": {...}}, ...}}
ALTER TABLE sluice.datasets ADD COLUMN files       jsonb NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE sluice.datasets ADD COLUMN size_bytes  bigint CHECK (size_bytes >= 0);
CREATE INDEX datasets_transform_idx ON sluice.datasets (transform, transform_version);
