"""Faultline: a self-hosted error-tracking server that speaks PostHog's Error Tracking API."""

__version__ = "0.1.0"
