"""Cron ticks, releases (one run per tick, claimed in the audit store) and the scheduler."""
