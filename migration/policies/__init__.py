"""Network policy continuity: translations of CNI-specific policies for the target's dataplane (see :mod:`.calico`)."""
