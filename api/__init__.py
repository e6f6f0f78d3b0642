"""HTTP-triggered blueprints, one module per resource."""
