"""Closing the loop: a work order raised in an asset's source CMMS when a critical alert fires for it, at most one
per asset per alert episode, dry-run unless ``IC3_WRITE_BACK=live`` (README: "Closing the loop")."""
