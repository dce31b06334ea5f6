"""Collection tasks: the queue of work that fills the store (rules, repository, worker, sources, routes)."""
