"""Workflows: workspaces and membership, versioned graphs, the REST API for building them."""
