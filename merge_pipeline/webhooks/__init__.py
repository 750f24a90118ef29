"""Merge -> us: the signed-webhook receiver and the embedded Link token exchange."""
