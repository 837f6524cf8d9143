"""Ground-floor helpers shared by every layer: rotations and value validation."""
