"""Innomaint's asset-detail API: the request, the record parsing, the rows it writes (plain Python)."""
