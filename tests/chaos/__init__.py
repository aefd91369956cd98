"""The fault campaign (issue 19): randomized trials against a real local cluster, a recorded
history of every S3 operation, a nemesis, and a pure checker (docs/fault-campaign.md)."""
