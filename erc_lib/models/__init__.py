"""One module per paper model: :mod:`.sdt` (SDT, Ma et al. 2023), :mod:`.compm` (CoMPM,
Lee & Lee 2022, with EmoNet's additions), :mod:`.mister_e` (MiSTER-E); the two baselines every
table opens with in :mod:`.baselines`; shared building blocks in :mod:`.layers`."""
