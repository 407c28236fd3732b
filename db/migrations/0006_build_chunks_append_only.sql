-- A build chunk marker records a fact (these log rows were written into that build): it is never
-- changed, like every other fact table in schema sluice.
CREATE TRIGGER transform_build_chunks_append_only BEFORE UPDATE OR DELETE ON sluice.transform_build_chunks
  FOR EACH ROW EXECUTE FUNCTION sluice.refuse_mutation();
CREATE TRIGGER transform_build_chunks_no_truncate BEFORE TRUNCATE ON sluice.transform_build_chunks
  FOR EACH STATEMENT EXECUTE FUNCTION sluice.refuse_mutation();
