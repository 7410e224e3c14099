"""Background side of Ruptura: models, queue, ledger, job functions and the pure engines."""
