"""Failure notifications: the sensors telling a webhook, Slack or email about failed runs and failed checks."""

from dagster import Definitions

from ic3_pipeline.notifications.sensors import build_notification_sensors

defs = Definitions(sensors=build_notification_sensors())
