"""One module per page; each registers its routes on web.blueprint.bp."""
