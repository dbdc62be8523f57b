"""Test and demo equipment: simulated CMMS APIs and sample data. Nothing in the product imports this but the CLI and the demo."""
