"""The web console for finance staff at /console: people sign in, see invoices, months and tasks."""
