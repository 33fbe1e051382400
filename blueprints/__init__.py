"""Blueprints: one area of the site each (journey, pages, requests, staff, operations)."""
