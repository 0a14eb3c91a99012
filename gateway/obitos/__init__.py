"""Death batches from the civil registries (cartórios, CRC) as INFODIP kind VI (issue 13)."""
