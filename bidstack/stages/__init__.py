"""The six stages of the market process (SPEC §4), each over whole fleets and years."""
