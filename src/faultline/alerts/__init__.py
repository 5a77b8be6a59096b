"""Alerts: rules that tell people when an issue is created, reopened, assigned, spikes or crosses a threshold.

The digest writes lifecycle rows into the outbox (and, through `spikes`, spiking / threshold rows) in its batch
transaction; `delivery.Deliverer` fans them out to the matching alerts' destinations and sends them in the
background, so a slow Slack never slows ingestion.
"""
