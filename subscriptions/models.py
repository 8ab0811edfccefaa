"""Subscriptions: plans, orders, payments, invoices (built by the subscriptions issue)."""
