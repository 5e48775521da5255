"""One module per paper model: :mod:`.sdt` (SDT, Ma et al. 2023)."""
