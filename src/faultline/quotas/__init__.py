"""Quotas: the per-issue rate limit and the new-issue limiter the digest applies, and the per-project token bucket
capture applies (answering 429 with `Retry-After`)."""
