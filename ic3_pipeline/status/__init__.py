"""Sync status: the numbers `ic3 status` prints and the `sync_status` asset shows, from one set of queries."""
