"""Human review of catalog records: duplicates, review actions, storage, broadcast."""
